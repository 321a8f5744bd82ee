/**
 * One edge device: the MQTT link, the inference runtime, the artifact store, the swap and
 * the local API, wired together. Used by the agent process (run.ts) and by simulators.
 *
 * Boot order matters: the last-known-good model is loaded and serving (and the local API is
 * answering) before the link even starts, so a device that reboots without a network keeps
 * working [issue 6].
 */
import type { Logger } from 'pino';
import {
  TERMINAL_DEPLOY_STATES,
  asError,
  stripUndefined,
  type AnyMessage,
  type Chunk,
  type ChunkNack,
  type DeployReport,
  type Desired,
  type TrustedKey,
} from '@edgefleet/shared/device';
import type { ChunkTransport } from './artifacts/chunk-download.js';
import { openArtifactStore, type ArtifactStore, type ModelPointer } from './artifacts/store.js';
import { DEFAULT_TIDY_LIMITS, type TidyLimits } from './artifacts/tidy.js';
import { createAgentLink, type AgentLink, type AgentLinkOptions } from './link/agent-link.js';
import { systemClock, type Clock, type RandomSource } from '@edgefleet/shared/device';
import { recoverInlineState, type InlinePolicy } from './runtime/inline-policy.js';
import {
  clearInlineMark,
  loadProvenInline,
  promoteInline,
  type InlinePromotionDeps,
} from './runtime/inline-promotion.js';
import { createModelWorker, type ModelWorker } from './runtime/model-worker.js';
import type { FloatTensor } from './runtime/ort.js';
import { createServingRuntime, type ServingRuntime } from './runtime/serving.js';
import { startLocalApi, type LocalApi } from './serve/local-api.js';
import { startWorkload, type Workload } from './serve/workload.js';
import { goldenFeeds } from './swap/golden.js';
import { createDeviceTelemetry, type DeviceTelemetryOptions } from './telemetry/device-telemetry.js';
import type { Telemetry } from './telemetry/telemetry-service.js';
import { runSwap } from './swap/run-swap.js';
import type { SwapDeps, SwapStepDef } from './swap/steps.js';

export interface DeviceOptions {
  /** Link options; `currentModel` is wired by the device. */
  readonly link: Omit<AgentLinkOptions, 'currentModel' | 'logger' | 'clock' | 'random'>;
  readonly dataDir: string;
  /** Public keys manifests must be signed with (several during a key rotation). */
  readonly trustedKeys: readonly TrustedKey[];
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** onnxruntime intra-op threads per worker; 0 lets ORT choose. Default 1. */
  readonly intraOpNumThreads?: number;
  /** Local API: a port on 127.0.0.1 (0 = any free one), a Unix socket, or false for none. Default false. */
  readonly serve?: { readonly port?: number; readonly socketPath?: string } | false;
  /** Synthetic inferences per second on the serving model; 0 (default) disables. */
  readonly workloadRatePerS?: number;
  /** Golden rows per synthetic inference (repeated when the golden set has fewer). Default 1. */
  readonly workloadBatch?: number;
  readonly download?: SwapDeps['download'];
  readonly preferHttp?: boolean;
  /**
   * Bound on disk use: partial downloads kept for retries (bytes,
   * age); unreferenced models are deleted. Default 64 MiB, 1 day.
   */
  readonly storage?: Partial<TidyLimits>;
  /** Override the swap steps (fault injection in simulations and tests). */
  readonly swapSteps?: readonly SwapStepDef[];
  /**
   * Telemetry windows, golden runs, power and thermal readers [issue 7]; false turns telemetry off. Default: on, 10 s
   * windows.
   */
  readonly telemetry?: DeviceTelemetryOptions | false;
  /**
   * The inference seam: every model worker the device creates passes through it before it
   * serves or runs a smoke test. Simulators inject hardware faults here (simulators/src/faults/
   * inference-faults.ts). Default: none.
   */
  readonly wrapWorker?: (worker: ModelWorker) => ModelWorker;
  /**
   * Serve small models on this thread instead of a worker (runtime/inline-policy.ts). Default:
   * always a worker (simulated farms run many devices in one process).
   */
  readonly inline?: InlinePolicy;
}

export interface DeviceStatus {
  readonly serving: { readonly sha256: string; readonly variantId: string } | null;
  readonly swapping: string | null;
  readonly workerCrashes: number;
  readonly lastReport: DeployReport | null;
}

export interface Device {
  readonly link: AgentLink;
  readonly serving: ServingRuntime;
  readonly store: ArtifactStore;
  /** Telemetry windows and the durable outbox (null when turned off). */
  readonly telemetry: Telemetry | null;
  /** The local API once started (null when disabled). */
  api(): LocalApi | null;
  /** Boots the last-known-good model and the local API, then starts the link (not awaited). */
  start(): Promise<void>;
  /** Clean shutdown: link offline status, workers ended, API closed. */
  stop(options?: { readonly clean?: boolean }): Promise<void>;
  status(): DeviceStatus;
  /** Resolves when no swap is running or queued. */
  idle(): Promise<void>;
  onReport(listener: (report: DeployReport) => void): () => void;
}

/** Creates a device; nothing starts until `start()`. */
export async function createDevice(options: DeviceOptions): Promise<Device> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const log = options.logger.child({ component: 'device', deviceId: options.link.deviceId });
  const store = await openArtifactStore(options.dataDir);
  const serving = createServingRuntime();
  const manifests = new Map<string, Desired>();
  const listeners = new Set<(report: DeployReport) => void>();
  let api: LocalApi | null = null;
  let workload: Workload | null = null;
  let workerCrashes = 0;
  let lastReport: DeployReport | null = null;
  let active: { readonly deploymentId: string; readonly abort: AbortController } | null = null;
  let latest: Desired | null = null;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  const wrapWorker = options.wrapWorker ?? ((worker: ModelWorker) => worker);
  let inline: InlinePromotionDeps | null = null;

  const link = createAgentLink({
    ...options.link,
    logger: options.logger,
    clock,
    random,
    currentModel: () => serving.current()?.sha256 ?? null,
  });

  const telemetry =
    options.telemetry === false
      ? null
      : createDeviceTelemetry({
          ...(options.telemetry ?? {}),
          deviceId: options.link.deviceId,
          deviceClass: options.link.deviceClass,
          dataDir: options.dataDir,
          clock,
          link,
          serving,
          manifest: (sha) => manifests.get(sha) ?? null,
          logger: log,
        });

  function createWorker(): ModelWorker {
    // Every worker goes through the inference seam (identity unless a simulator wraps it).
    const worker: ModelWorker = wrapWorker(
      createModelWorker({
        intraOpNumThreads: options.intraOpNumThreads ?? 1,
        onCrash: (reason) => {
          workerCrashes += 1;
          log.error({ reason }, 'inference worker crashed');
          if (serving.current()?.worker === worker && !stopped) void respawn();
        },
      }),
    );
    return worker;
  }

  /** Loads a stored model (inline when proven, else into a fresh worker) and makes it serve; false if it cannot. */
  async function serveStored(pointer: ModelPointer, allowInline = false): Promise<boolean> {
    if (allowInline && inline) {
      manifests.set(pointer.sha256, pointer.desired);
      const model = await loadProvenInline(inline, pointer.sha256);
      if (model) {
        const { sha256, variantId, deploymentId } = pointer;
        await serving.switchTo({ worker: model, sha256, variantId, deploymentId })?.worker.terminate();
        return true;
      }
    }
    const worker = createWorker();
    try {
      await worker.load(await store.read(pointer.sha256));
      manifests.set(pointer.sha256, pointer.desired);
      const before = serving.switchTo({
        worker,
        sha256: pointer.sha256,
        variantId: pointer.variantId,
        deploymentId: pointer.deploymentId,
      });
      await before?.worker.terminate();
      return true;
    } catch (err: unknown) {
      await worker.terminate();
      log.error({ err, sha256: pointer.sha256 }, 'could not serve a stored model');
      return false;
    }
  }

  async function respawn(): Promise<void> {
    const state = await store.loadState();
    const sha = serving.current()?.sha256;
    const pointer =
      [state.current, state.lastKnownGood, state.previous].find((p) => p?.sha256 === sha) ?? state.lastKnownGood;
    if (pointer && (await serveStored(pointer)))
      log.warn({ sha256: pointer.sha256 }, 'serving again from a fresh worker after a crash');
  }

  /** Moves a small model onto this thread when the inline policy allows (no-op without one). */
  async function placeServing(): Promise<void> {
    if (!inline || stopped) return;
    const promoted = await promoteInline(inline).catch((err: unknown) => {
      log.error({ err }, 'inline promotion failed; the model keeps its worker');
      return false;
    });
    if (!promoted && serving.current()?.worker.kind !== 'inline') await clearInlineMark(inline);
  }

  /**
   * The inline model's watchdog is gone (its supervisor was killed): the model may not serve on
   * this thread unwatched, so it goes back to a worker. The model did nothing wrong, so it is
   * not refused: the next boot loads it inline again, with a new watchdog.
   */
  async function onInlineLost(sha256: string): Promise<void> {
    log.error({ sha256 }, 'inline model lost its watchdog; serving it from a worker');
    if (inline) await clearInlineMark(inline);
    if (!stopped) await respawn();
  }

  function report(r: DeployReport): void {
    lastReport = r;
    for (const l of listeners) l(r);
    link
      .publish('events', r)
      .catch((err: unknown) =>
        log.debug(
          { err, state: r.state },
          'deploy report not sent (offline); a redelivered manifest repeats the terminal one',
        ),
      );
  }

  const transport: ChunkTransport = {
    request: (request) => link.publish('chunk-req', request),
    listen: (handler) =>
      link.on('chunks', (message: AnyMessage | null) => {
        if (message?.type === 'chunk' || message?.type === 'chunk-nack') handler(message as Chunk | ChunkNack);
      }),
  };
  const deps: SwapDeps = {
    deviceId: options.link.deviceId,
    trustedKeys: options.trustedKeys,
    store,
    serving,
    transport,
    clock,
    random,
    createWorker,
    ...stripUndefined({ download: options.download }),
    ...(options.preferHttp ? { preferHttp: true } : {}),
  };

  const tidyLimits: TidyLimits = { ...DEFAULT_TIDY_LIMITS, ...options.storage };

  /** Deletes what the device no longer needs (tidy.ts); a failure here never stops a deployment. */
  async function tidyStore(keep: readonly string[]): Promise<void> {
    try {
      const plan = await store.tidy(keep, tidyLimits, clock.now());
      if (plan.delete.length > 0)
        log.info(
          { artifacts: plan.artifacts, partials: plan.partials, bytes: plan.bytes },
          'deleted models and partial downloads no longer needed',
        );
    } catch (err: unknown) {
      log.warn({ err }, 'could not tidy the artifact store; will try again after the next deployment');
    }
  }

  async function processDesired(desired: Desired): Promise<void> {
    if (stopped || latest !== desired) return;
    const { deploymentId } = desired.body;
    const outcome = (await store.loadState()).outcomes.find((o) => o.deploymentId === deploymentId);
    if (outcome && TERMINAL_DEPLOY_STATES.has(outcome.state)) {
      // Redelivered (reconnect, restart): repeat the answer, do not redo the work.
      report({ ...outcome, serving: serving.current()?.sha256 ?? null, sentAt: clock.now() });
      return;
    }
    const abort = new AbortController();
    active = { deploymentId, abort };
    const target = desired.body.artifact.sha256;
    // Before the download: leftovers of earlier failures go, within the bound (the target stays).
    await tidyStore([target]);
    try {
      const result = await runSwap(desired, deps, {
        signal: abort.signal,
        logger: log,
        report,
        ...stripUndefined({ steps: options.swapSteps }),
      });
      if (result.state === 'succeeded') {
        manifests.set(target, desired);
        await placeServing();
      }
      // A superseded download may resume (a restart, the same manifest again): keep its part.
      await tidyStore(result.failure?.reason === 'superseded' ? [target] : []);
    } finally {
      active = null;
    }
  }

  function handleDesired(message: AnyMessage | null): void {
    if (message !== null && message.type !== 'desired') return;
    latest = message;
    if (active && active.deploymentId !== message?.body.deploymentId) active.abort.abort();
    if (message === null) {
      log.info('desired state cleared; keeping the current model');
      return;
    }
    if (active?.deploymentId === message.body.deploymentId) return;
    chain = chain
      .then(() => processDesired(message))
      .catch((err: unknown) => log.error({ err }, 'deployment handling failed'));
  }

  function sample(of?: string): Record<string, FloatTensor> | null {
    const sha = of ?? serving.current()?.sha256;
    const desired = sha === undefined ? undefined : manifests.get(sha);
    if (!desired) return null;
    const feeds = goldenFeeds(desired.body.golden);
    const batch = options.workloadBatch ?? 1;
    return Object.fromEntries(
      Object.entries(feeds).map(([name, t]) => {
        const rows = t.dims[0] ?? 1;
        const row = t.data.length / rows;
        const data = new Float32Array(row * batch);
        // The first `batch` golden rows, cycling when the golden set has fewer.
        for (let i = 0; i < batch; i += 1) data.set(t.data.subarray((i % rows) * row, ((i % rows) + 1) * row), i * row);
        return [name, { dims: [batch, ...t.dims.slice(1)], data }];
      }),
    );
  }

  async function start(): Promise<void> {
    // Partial downloads of a deployment in progress are the newest, so the bound keeps them.
    await tidyStore([]);
    if (options.inline)
      inline = {
        dataDir: options.dataDir,
        policy: options.inline,
        serving,
        log,
        state: await recoverInlineState(options.dataDir, log),
        intraOpNumThreads: options.intraOpNumThreads ?? 1,
        read: (sha) => store.read(sha),
        sample: (sha) => sample(sha),
        wrap: wrapWorker,
        onLost: (sha) => void onInlineLost(sha),
      };
    const state = await store.loadState();
    for (const pointer of [state.lastKnownGood, state.previous]) {
      if (pointer && (await serveStored(pointer, true))) {
        log.info({ sha256: pointer.sha256, variantId: pointer.variantId }, 'serving last-known-good model');
        break;
      }
    }
    chain = chain.then(placeServing).catch((err: unknown) => log.error({ err }, 'inline placement failed'));
    if (options.serve) {
      try {
        api = await startLocalApi({ serving, logger: options.logger, ...options.serve });
      } catch (err: unknown) {
        // A taken port must not stop the device from serving its fleet role; say how to fix it.
        log.error(
          { err: { message: asError(err).message } },
          'local inference API could not listen; set --serve-port (0 = any free port) or --serve-socket',
        );
      }
    }
    telemetry?.start();
    if ((options.workloadRatePerS ?? 0) > 0)
      workload = startWorkload({
        serving,
        ratePerS: options.workloadRatePerS ?? 0,
        sample,
        clock,
        random,
        logger: log,
      });
    link.on('desired', handleDesired);
    link.start().catch(() => undefined);
  }

  async function shutdown(): Promise<void> {
    stopped = true;
    active?.abort.abort();
    workload?.stop();
    await telemetry?.stop();
    await chain.catch(() => undefined);
    await api?.close();
    await serving.close();
  }

  /** A clean stop: the inline model ended with the process, so it is not held against it at the next boot. */
  async function cleanShutdown(): Promise<void> {
    await shutdown();
    if (inline) await clearInlineMark(inline);
  }

  return Object.freeze({
    link,
    serving,
    store,
    telemetry,
    api: () => api,
    start,
    stop: async (stopOptions: { readonly clean?: boolean } = {}) => {
      await link.stop(stopOptions);
      await cleanShutdown();
    },
    status: (): DeviceStatus => {
      const model = serving.current();
      return {
        serving: model ? { sha256: model.sha256, variantId: model.variantId } : null,
        swapping: active?.deploymentId ?? null,
        workerCrashes,
        lastReport,
      };
    },
    idle: () => chain,
    onReport: (listener: (r: DeployReport) => void) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  });
}
