/**
 * The model swap as a named list of undoable steps [STYLE 3, EF-PROTO 6.6]: authenticate →
 * download → verify → load → warm-up → smoke-test → switch → persist. The old worker keeps
 * serving until `switch`; a failure at any step undoes the completed ones in reverse, which
 * leaves (or puts back) the last-known-good model serving.
 */
import {
  isEdgefleetError,
  sha256Hex,
  verifySignature,
  asError,
  type DeployFailureReason,
  type DeployState,
  type Desired,
  type SwapStep,
  type TrustedKey,
} from '@edgefleet/shared/device';
import type { ChunkTransport, DownloadCounts } from '../artifacts/chunk-download.js';
import { downloadChunks } from '../artifacts/chunk-download.js';
import { stepFailure } from '../artifacts/failure.js';
import { downloadHttp } from '../artifacts/http-download.js';
import type { AgentState, ArtifactStore, ModelPointer } from '../artifacts/store.js';
import type { Clock, RandomSource } from '@edgefleet/shared/device';
import type { ModelWorker } from '../runtime/model-worker.js';
import type { ServingModel, ServingRuntime } from '../runtime/serving.js';
import { type GoldenScore, goldenFeeds, scoreGolden } from './golden.js';

/** What the steps need from the device. */
export interface SwapDeps {
  readonly deviceId: string;
  readonly trustedKeys: readonly TrustedKey[];
  readonly store: ArtifactStore;
  readonly serving: ServingRuntime;
  readonly transport: ChunkTransport;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Starts a fresh inference worker. */
  readonly createWorker: () => ModelWorker;
  /** Download tuning passed to downloadChunks. */
  readonly download?: {
    readonly windowChunks?: number;
    readonly windowTimeoutMs?: number;
    readonly maxStalls?: number;
  };
  /** Use the manifest's HTTP(S) URL when it has one. Default false (MQTT chunks). */
  readonly preferHttp?: boolean;
}

/** Mutable state of one swap, passed from step to step. */
export interface SwapContext {
  readonly desired: Desired;
  readonly deps: SwapDeps;
  readonly signal: AbortSignal;
  counts: DownloadCounts;
  bytes: Uint8Array | null;
  worker: ModelWorker | null;
  accuracy: number | null;
  /** What served before `switch` (still running until the swap is final). */
  replaced: ServingModel | null;
  /** The state file as it was before `persist`. */
  priorState: AgentState | null;
}

export interface SwapStepDef {
  readonly name: SwapStep;
  /** State reported when the step starts (none for steps that are too quick to matter). */
  readonly reports: DeployState | null;
  /** Reason used when the step throws something that is not a step failure. */
  readonly fallbackReason: DeployFailureReason;
  run(ctx: SwapContext): Promise<void>;
  undo?(ctx: SwapContext): Promise<void>;
}

function pointerOf(desired: Desired): ModelPointer {
  return {
    sha256: desired.body.artifact.sha256,
    variantId: desired.body.variantId,
    deploymentId: desired.body.deploymentId,
    desired,
  };
}

/** Translates runtime errors of a step into failure reasons. */
function runtimeReason(err: unknown, fallback: DeployFailureReason): DeployFailureReason {
  return isEdgefleetError(err, 'EF_ERR_RUNTIME_CRASH') ? 'worker-crash' : fallback;
}

async function runModel(ctx: SwapContext, step: SwapStep) {
  const worker = ctx.worker;
  if (!worker) throw new Error('no worker: the load step must run first');
  let feeds: ReturnType<typeof goldenFeeds>;
  try {
    feeds = goldenFeeds(ctx.desired.body.golden);
  } catch (err: unknown) {
    throw stepFailure(step, 'bad-manifest', asError(err).message);
  }
  try {
    return await worker.run(feeds);
  } catch (err: unknown) {
    throw stepFailure(step, runtimeReason(err, 'run-error'), asError(err).message, err);
  }
}

export const SWAP_STEP_DEFS: readonly SwapStepDef[] = Object.freeze([
  {
    name: 'authenticate',
    reports: null,
    fallbackReason: 'bad-manifest',
    async run(ctx) {
      const { body, signature } = ctx.desired;
      const check = verifySignature(body, body.keyId, signature, ctx.deps.trustedKeys);
      if (!check.ok) throw stepFailure('authenticate', check.reason, check.detail);
      if (body.deviceId !== ctx.deps.deviceId)
        throw stepFailure(
          'authenticate',
          'wrong-device',
          `manifest is for ${body.deviceId}, this is ${ctx.deps.deviceId}`,
        );
    },
  },
  {
    name: 'download',
    reports: 'downloading',
    fallbackReason: 'storage',
    async run(ctx) {
      const { body } = ctx.desired;
      const { deps } = ctx;
      if (deps.preferHttp && body.artifact.url) {
        const { bytes } = await downloadHttp(body.artifact.url, body.artifact, deps.store, { signal: ctx.signal });
        const total = body.artifact.chunkCount;
        ctx.counts =
          bytes === 0
            ? { total, fetched: 0, reused: total, corrupt: 0 }
            : { total, fetched: total, reused: 0, corrupt: 0 };
        return;
      }
      ctx.counts = await downloadChunks(body, {
        deviceId: deps.deviceId,
        store: deps.store,
        transport: deps.transport,
        clock: deps.clock,
        random: deps.random,
        signal: ctx.signal,
        ...deps.download,
      });
    },
  },
  {
    name: 'verify',
    reports: 'verifying',
    fallbackReason: 'storage',
    async run(ctx) {
      const { sha256, size } = ctx.desired.body.artifact;
      const bytes = await ctx.deps.store.read(sha256).catch((err: unknown) => {
        throw stepFailure('verify', 'digest-mismatch', asError(err).message, err);
      });
      if (bytes.byteLength !== size)
        throw stepFailure(
          'verify',
          'size-mismatch',
          `artifact has ${bytes.byteLength} bytes, the manifest says ${size}`,
        );
      if (sha256Hex(bytes) !== sha256)
        throw stepFailure('verify', 'digest-mismatch', 'artifact digest differs from the manifest');
      ctx.bytes = bytes;
    },
  },
  {
    name: 'load',
    reports: 'loading',
    fallbackReason: 'load-error',
    async run(ctx) {
      ctx.worker = ctx.deps.createWorker();
      try {
        await ctx.worker.load(ctx.bytes ?? new Uint8Array());
      } catch (err: unknown) {
        throw stepFailure('load', runtimeReason(err, 'load-error'), asError(err).message, err);
      }
    },
    async undo(ctx) {
      await ctx.worker?.terminate();
      ctx.worker = null;
    },
  },
  {
    name: 'warm-up',
    reports: null,
    fallbackReason: 'run-error',
    async run(ctx) {
      await runModel(ctx, 'warm-up');
    },
  },
  {
    name: 'smoke-test',
    reports: 'smoke-testing',
    fallbackReason: 'run-error',
    async run(ctx) {
      const { outputs } = await runModel(ctx, 'smoke-test');
      const golden = ctx.desired.body.golden;
      let score: GoldenScore;
      try {
        score = scoreGolden(golden, outputs, ctx.worker?.info()?.outputNames ?? Object.keys(outputs));
      } catch (err: unknown) {
        throw stepFailure('smoke-test', 'bad-manifest', asError(err).message);
      }
      ctx.accuracy = score.accuracy;
      if (!score.finite)
        throw stepFailure(
          'smoke-test',
          'non-finite-output',
          'the model produced NaN or infinite values on the golden set',
        );
      if (score.accuracy < golden.minAccuracy) {
        throw stepFailure(
          'smoke-test',
          'accuracy-below-minimum',
          `golden-set accuracy ${score.accuracy.toFixed(4)} (${score.correct}/${score.rows}) is below the minimum ` +
            `${golden.minAccuracy}`,
        );
      }
    },
  },
  {
    name: 'switch',
    reports: 'switched',
    fallbackReason: 'worker-crash',
    async run(ctx) {
      const worker = ctx.worker;
      if (!worker || worker.deadReason() !== null)
        throw stepFailure(
          'switch',
          'worker-crash',
          `the new worker is gone (${worker?.deadReason() ?? 'never started'})`,
        );
      const { body } = ctx.desired;
      ctx.replaced = ctx.deps.serving.switchTo({
        worker,
        sha256: body.artifact.sha256,
        variantId: body.variantId,
        deploymentId: body.deploymentId,
      });
    },
    async undo(ctx) {
      // The old worker never stopped; it serves again at once. The new one ends in load's undo.
      ctx.deps.serving.switchTo(ctx.replaced);
    },
  },
  {
    name: 'persist',
    reports: null,
    fallbackReason: 'storage',
    async run(ctx) {
      const before = await ctx.deps.store.loadState();
      ctx.priorState = before;
      const next = pointerOf(ctx.desired);
      const keepPrevious =
        before.lastKnownGood && before.lastKnownGood.sha256 !== next.sha256 ? before.lastKnownGood : before.previous;
      await ctx.deps.store.saveState({ ...before, current: next, lastKnownGood: next, previous: keepPrevious });
    },
    async undo(ctx) {
      if (ctx.priorState) await ctx.deps.store.saveState(ctx.priorState);
    },
  },
]);
