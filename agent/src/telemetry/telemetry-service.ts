/**
 * The agent's telemetry: closes a window every `windowMs` [EF-PROTO 8.1], checks it against
 * the manifest's budgets, appends window and breach events to the durable outbox, and drains
 * the outbox in order whenever the link is online, keeping each entry until the server
 * acknowledged it (or the broker, for `broker-ack` callers) [EF-PROTO 8.2]. Sensors come in
 * as readers, so a real device measures and a simulated one models, through one path.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  epochSchema,
  PROTOCOL_VERSION,
  SEQ_MAX,
  stripUndefined,
  type Breach,
  type FigureSource,
  type TelemetryWindow,
} from '@edgefleet/shared/device';
import type { Clock, TimerHandle } from '@edgefleet/shared/device';
import type { PowerSource } from '../meters/power.js';
import { processRssBytes, type ThermalReader } from '../meters/system.js';
import type { FloatTensor } from '../runtime/ort.js';
import { createBrokerAckDelivery } from './broker-ack-delivery.js';
import { createBudgetWatcher, type BudgetWatcherOptions, type WatchedBudgets } from './budget-watcher.js';
import { openOutbox, type Outbox, type OutboxOptions } from './outbox.js';
import { createServerAckDelivery } from './server-ack-delivery.js';
import type { Delivery, DeliveryStats, TelemetryDelivery, TelemetryTransport } from './transport.js';
import { createWindowAccumulator } from './window.js';

/** Sensors; each absent one leaves its figure out of the window. */
export interface TelemetryReaders {
  readonly power?: PowerSource | null;
  readonly thermal?: ThermalReader | null;
  /** Default: this process's RSS. */
  readonly rssBytes?: () => number;
  readonly sessionBytes?: () => number | undefined;
  /** Last golden-set result for the serving model. */
  readonly golden?: () => { readonly accuracy: number; readonly at: number } | undefined;
}

export interface TelemetryOptions {
  readonly deviceId: string;
  readonly deviceClass: string;
  /** The outbox and sequence state live in `<dataDir>/telemetry`. */
  readonly dataDir: string;
  readonly clock: Clock;
  /** Reported as `clock.source`. Default `system`. */
  readonly clockSource?: 'system' | 'virtual';
  /** Window length, ms; 0 starts no timer (call `closeWindow()`). Default 10 000. */
  readonly windowMs?: number;
  readonly transport: TelemetryTransport;
  readonly model: () => TelemetryWindow['model'];
  /** Budgets of the serving manifest, or null. */
  readonly budgets: () => WatchedBudgets | null;
  readonly readers?: TelemetryReaders;
  /**
   * Labels each window's latency summary (`source`, and `speedFactor` when measured latencies
   * were scaled by a modelled factor). Default: no label, as real agents have always sent.
   */
  readonly latencyLabel?: () => { readonly source: FigureSource; readonly speedFactor?: number };
  /** Called just before a window closes (simulated devices add their modelled inferences here). */
  readonly beforeClose?: (windowStart: number, windowEnd: number) => void;
  /** Called after a window closed (the device triggers scheduled golden runs here). */
  readonly afterClose?: (window: TelemetryWindow) => void;
  readonly outbox?: Omit<OutboxOptions, 'dir'>;
  readonly watcher?: BudgetWatcherOptions;
  /**
   * When an entry counts as delivered (see {@link TelemetryDelivery}). Default `server-ack`,
   * which needs `transport.onAck`; `broker-ack` only for a broker with no edgefleet server.
   */
  readonly delivery?: TelemetryDelivery;
  /** Entries published and awaiting acknowledgement at once. Default 64 (`server-ack`), 8 (`broker-ack`). */
  readonly maxInFlight?: number;
  /**
   * `server-ack`: how long an entry waits for the server's acknowledgement before it is sent
   * again, ms; doubles on each silent round up to `maxAckTimeoutMs`. Default 15 000 (the
   * server commits within a quarter second).
   */
  readonly ackTimeoutMs?: number;
  /** `server-ack`: cap of the doubling acknowledgement timeout, ms. Default 300 000. */
  readonly maxAckTimeoutMs?: number;
  /**
   * `broker-ack`: how long a publish may wait for its PUBACK before the entry counts as not
   * delivered (it stays in the outbox), ms. mqtt.js keeps unacknowledged QoS 1 publishes
   * across a reconnect and resends them, so this only ends waits on a link that is gone.
   * Default 30 000.
   */
  readonly publishTimeoutMs?: number;
  readonly logger: Logger;
}

export interface TelemetryStats extends DeliveryStats {
  readonly delivery: TelemetryDelivery;
  readonly windows: number;
  readonly breaches: number;
  readonly pending: number;
  readonly droppedTotal: number;
  readonly nextSeq: number;
}

export interface Telemetry {
  recordInference(latencyMs: number, outputs?: Readonly<Record<string, FloatTensor>>, confidence?: number): void;
  recordError(): void;
  /**
   * Opens the first window and starts the timer (if `windowMs` > 0), the drain on reconnect and the acknowledgement
   * listener.
   */
  start(): void;
  /**
   * Stops the timers, the drain on reconnect and the acknowledgement listener; undelivered entries stay in the outbox
   * for the next start.
   */
  stop(): Promise<void>;
  /** Closes the current window now: builds it, runs the budget watcher, appends to the outbox, drains. */
  closeWindow(): TelemetryWindow;
  /**
   * Publishes what is due while online; resolves when this round's publishes settled (`server-ack`: not when
   * acknowledged).
   */
  flush(): Promise<void>;
  onWindow(listener: (window: TelemetryWindow, breaches: readonly Breach[]) => void): () => void;
  readonly outbox: Outbox;
  stats(): TelemetryStats;
}

const SEQ_FILE = 'seq.json';

/** The persisted seq counter and the epoch naming its life [EF-PROTO 8.1]. */
interface SeqState {
  nextSeq: number;
  /** null: a counter from before epochs, which keeps sending none. */
  readonly epoch: string | null;
}

/**
 * Reads the counter; a missing or unreadable file starts it again from 0 under a new epoch
 * (creation time and random bits), so the server recognises the restart instead of
 * discarding the new windows as duplicates of the old ones (issue 18, finding 6).
 */
function loadSeqState(dir: string, now: number): SeqState {
  try {
    const raw = JSON.parse(readFileSync(join(dir, SEQ_FILE), 'utf8')) as { nextSeq?: unknown; epoch?: unknown };
    const nextSeq = raw.nextSeq;
    if (typeof nextSeq === 'number' && Number.isSafeInteger(nextSeq) && nextSeq >= 0 && nextSeq <= SEQ_MAX) {
      const epoch = typeof raw.epoch === 'string' && epochSchema.safeParse(raw.epoch).success ? raw.epoch : null;
      return { nextSeq, epoch };
    }
  } catch {
    // No counter yet, or a damaged one: a new epoch below.
  }
  const state = { nextSeq: 0, epoch: `${now.toString(36)}-${randomBytes(4).toString('hex')}` };
  saveSeqState(dir, state);
  return state;
}

function saveSeqState(dir: string, state: SeqState): void {
  const tmp = join(dir, `${SEQ_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(state.epoch === null ? { nextSeq: state.nextSeq } : state));
  renameSync(tmp, join(dir, SEQ_FILE));
}

function createDelivery(options: TelemetryOptions, outbox: Outbox, log: Logger): Delivery {
  const { clock, transport } = options;
  if (options.delivery === 'broker-ack') {
    return createBrokerAckDelivery({
      outbox,
      transport,
      clock,
      log,
      maxInFlight: options.maxInFlight ?? 8,
      publishTimeoutMs: options.publishTimeoutMs ?? 30_000,
    });
  }
  return createServerAckDelivery({
    outbox,
    transport,
    clock,
    log,
    maxInFlight: options.maxInFlight ?? 64,
    ackTimeoutMs: options.ackTimeoutMs ?? 15_000,
    maxAckTimeoutMs: options.maxAckTimeoutMs ?? 300_000,
  });
}

export function createTelemetry(options: TelemetryOptions): Telemetry {
  const { clock, transport } = options;
  const windowMs = options.windowMs ?? 10_000;
  const readers = options.readers ?? {};
  const log = options.logger.child({ component: 'telemetry', deviceId: options.deviceId });
  const dir = join(options.dataDir, 'telemetry');
  mkdirSync(dir, { recursive: true });
  const outbox = openOutbox({ ...options.outbox, dir: join(dir, 'outbox') });
  const delivery = createDelivery(options, outbox, log);
  const watcher = createBudgetWatcher(options.watcher);
  const acc = createWindowAccumulator();
  const listeners = new Set<(w: TelemetryWindow, b: readonly Breach[]) => void>();
  const counters = { windows: 0, breaches: 0 };
  const seqState = loadSeqState(dir, clock.now());
  let windowStart = clock.now();
  let lastModelSha: string | null = null;
  let timer: TimerHandle | null = null;
  let unsubscribeOnline: (() => void) | null = null;

  function buildWindow(now: number): TelemetryWindow {
    options.beforeClose?.(windowStart, now);
    const figures = acc.take();
    const durationMs = Math.max(0, now - windowStart);
    const duty = durationMs > 0 ? Math.min(1, figures.busyMs / durationMs) : 0;
    const watts = readers.power?.end(now, duty) ?? null;
    readers.power?.begin(now);
    const thermal = readers.thermal?.end() ?? {};
    readers.thermal?.begin();
    const golden = readers.golden?.();
    const sessionBytes = readers.sessionBytes?.();
    const seq = seqState.nextSeq;
    seqState.nextSeq += 1;
    // Persist before the window exists anywhere: a crash then costs a gap, never a reused seq.
    saveSeqState(dir, seqState);
    return {
      type: 'telemetry',
      v: PROTOCOL_VERSION,
      deviceId: options.deviceId,
      deviceClass: options.deviceClass,
      seq,
      ...(seqState.epoch === null ? {} : { epoch: seqState.epoch }),
      windowStart,
      windowEnd: Math.max(now, windowStart),
      model: options.model(),
      inferences: figures.inferences,
      errors: figures.errors,
      dutyCycle: duty,
      latencyMs:
        figures.latencyMs && options.latencyLabel
          ? { ...figures.latencyMs, ...options.latencyLabel() }
          : figures.latencyMs,
      power:
        watts === null || !readers.power
          ? null
          : {
              watts,
              source: readers.power.source,
              sensor: readers.power.sensor,
              energyPerInferenceMj: figures.inferences > 0 ? (watts * durationMs) / figures.inferences : null,
            },
      accuracy: {
        ...(golden ? { goldenAccuracy: golden.accuracy, goldenAt: golden.at } : {}),
        ...(figures.meanTop1Confidence === null ? {} : { meanTop1Confidence: figures.meanTop1Confidence }),
      },
      memory: {
        rssBytes: Math.round((readers.rssBytes ?? processRssBytes)()),
        ...stripUndefined({ sessionBytes }),
      },
      thermal,
      clock: { source: options.clockSource ?? 'system', durationMs },
      outbox: { droppedTotal: outbox.droppedTotal(), pending: outbox.pending() },
      sentAt: now,
    };
  }

  function closeWindow(): TelemetryWindow {
    const now = clock.now();
    const window = buildWindow(now);
    windowStart = now;
    const sha = window.model?.sha256 ?? null;
    // A new model starts the watcher afresh: its predecessor's windows say nothing about it.
    if (sha !== lastModelSha) watcher.reset();
    lastModelSha = sha;
    const { epoch } = window;
    // Breach events name their windows by seq, so they carry the same epoch.
    const breaches = watcher.observe(window, options.budgets()).map((b) => (epoch ? { ...b, epoch } : b));
    outbox.append('telemetry', window);
    for (const b of breaches) {
      outbox.append('events', b);
      log.warn(
        { budget: b.budget, state: b.state, measured: b.measured, limit: b.limit },
        b.state === 'breached' ? 'budget breached' : 'budget recovered',
      );
    }
    counters.windows += 1;
    counters.breaches += breaches.length;
    for (const l of listeners) l(window, breaches);
    options.afterClose?.(window);
    void flush();
    return window;
  }

  const flush = (): Promise<void> => delivery.flush();

  function schedule(): void {
    timer = clock.setTimeout(() => {
      timer = null;
      try {
        closeWindow();
      } catch (err: unknown) {
        // A full disk or a sensor bug must not stop the device from serving; the next window retries.
        log.error({ err }, 'telemetry window could not be closed');
      }
      schedule();
    }, windowMs);
  }

  function start(): void {
    windowStart = clock.now();
    readers.power?.begin(windowStart);
    readers.thermal?.begin();
    delivery.start();
    unsubscribeOnline ??= transport.onOnline(() => delivery.reconnected());
    if (windowMs > 0 && !timer) schedule();
    void flush();
  }

  async function stop(): Promise<void> {
    if (timer) clock.clearTimeout(timer);
    timer = null;
    unsubscribeOnline?.();
    unsubscribeOnline = null;
    delivery.stop();
    // Not awaiting an open drain: on a dropped link its publishes may never be acknowledged.
    // Whatever it had not delivered is still in the outbox.
  }

  return Object.freeze({
    recordInference: acc.recordInference,
    recordError: acc.recordError,
    start,
    stop,
    closeWindow,
    flush,
    outbox,
    onWindow: (listener: (w: TelemetryWindow, b: readonly Breach[]) => void) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    stats: (): TelemetryStats => ({
      ...delivery.stats(),
      ...counters,
      delivery: options.delivery ?? 'server-ack',
      pending: outbox.pending(),
      droppedTotal: outbox.droppedTotal(),
      nextSeq: seqState.nextSeq,
    }),
  });
}
