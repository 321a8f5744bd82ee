/**
 * The server's telemetry service: subscribes to every device's `telemetry` and `events`,
 * ingests in batches, acknowledges each committed batch to its devices on `telemetry-ack`,
 * prunes by retention (a scheduled task), and answers the queries the admin API and the
 * control loop ask: per-device and per-class series and current budget status. Without a
 * broker client (services the CLI starts on a data directory) it only answers queries.
 */
import {
  allDevicesFilter,
  deviceTopic,
  encodeMessage,
  stripUndefined,
  type Breach,
  type Clock,
  type RejectReason,
  type TelemetryAck,
  type TelemetryWindow,
  type WatchedBudget,
} from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import { createInboundRouter, type InboundRouter } from '../broker/inbound.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { ClassRepository } from '../store/classes.js';
import type {
  BreachFilter,
  BreachRow,
  DeviceTelemetryRow,
  GapRow,
  MinuteRollup,
  TelemetryRepository,
  WindowRow,
} from '../store/telemetry.js';
import {
  budgetsFromClass,
  classStatus,
  deviceStatus,
  type BudgetSource,
  type ClassBudgetStatus,
  type DeviceBudgetStatus,
  type StatusRule,
  type TelemetryBudgets,
} from './budget-status.js';
import type { Ownership } from '../schedule/ownership.js';
import { createTelemetryIngest, type IngestStats, type StoreDelayHistogram, type TelemetryIngest } from './ingest.js';

/** Topics the telemetry service subscribes to. */
export const TELEMETRY_FILTERS: readonly string[] = [allDevicesFilter('telemetry'), allDevicesFilter('events')];

export interface TelemetryServiceOptions {
  readonly telemetry: TelemetryRepository;
  /** Class budgets (the limits status is judged against). */
  readonly classes: Pick<ClassRepository, 'get'>;
  /** Subscribes to device telemetry when given; without one the service only answers queries. */
  readonly client?: BrokerClient;
  /**
   * The server's inbound router; `start()` registers the `telemetry` and `breach` handlers
   * there. Without one, a service given a `client` decodes through a router of its own.
   */
  readonly inbound?: InboundRouter;
  /** Runs retention (the `telemetry-retention` task) when given. */
  readonly scheduler?: Scheduler;
  /** With replicas, retention runs where this key is held (`telemetry-retention`). Default: here. */
  readonly ownership?: Ownership;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxPayloadBytes?: number;
  /** Messages per batch. Default 200. */
  readonly batchSize?: number;
  /** Longest a message waits for its batch, ms (> 0). Default 250. */
  readonly flushIntervalMs?: number;
  /** Per-device windows kept, ms. Default 24 h. */
  readonly windowRetentionMs?: number;
  /** Per-class minute rollups kept, ms. Default 30 days. */
  readonly rollupRetentionMs?: number;
  /** How often retention runs, ms. Default 60 000. */
  readonly pruneEveryMs?: number;
  /** Default k-of-n rule for status queries. Default 3 of 5. */
  readonly rule?: StatusRule;
  /** A device counts as active for class status when its last window ended within this, ms. Default 120 000. */
  readonly activeWithinMs?: number;
  readonly onReject?: (r: { reason: RejectReason; detail: string; deviceId: string | null }) => void;
}

/** Ingestion counters plus the acknowledgements sent [EF-PROTO 8.2]. */
export interface TelemetryServiceStats extends IngestStats {
  /** `telemetry-ack` messages handed to the broker. */
  readonly acksPublished: number;
  /** Acknowledgements the broker client refused (the agents resend; nothing is lost). */
  readonly ackPublishFailures: number;
}

export interface SeriesRange {
  readonly from?: number;
  readonly to?: number;
  readonly limit?: number;
}

export interface TelemetryService {
  /** Subscribes (when a broker client was given) and schedules retention (when a scheduler was given). */
  start(): Promise<void>;
  /** Writes the buffer and stops the subscription handler. */
  stop(): Promise<void>;
  /** Ingests one decoded window or breach event (what the inbound router hands over). */
  ingest(message: TelemetryWindow | Breach): void;
  /** Writes buffered messages now (queries and the control loop do this before they read). */
  flush(): Promise<void>;
  deviceSeries(deviceId: string, range?: SeriesRange): Promise<WindowRow[]>;
  classSeries(deviceClass: string, range?: SeriesRange): Promise<MinuteRollup[]>;
  /**
   * Limits for a class: the class budgets when it has them, else the latest limits the agents
   * reported in breach events.
   */
  budgetsFor(deviceClass: string): Promise<{ readonly budgets: TelemetryBudgets; readonly source: BudgetSource }>;
  deviceBudgetStatus(deviceId: string, rule?: StatusRule): Promise<DeviceBudgetStatus | null>;
  classBudgetStatus(
    deviceClass: string,
    rule?: StatusRule & { readonly activeWithinMs?: number },
  ): Promise<ClassBudgetStatus>;
  gaps(deviceId?: string): Promise<GapRow[]>;
  device(deviceId: string): Promise<DeviceTelemetryRow | null>;
  breaches(filter?: BreachFilter): Promise<BreachRow[]>;
  /** Called after each breach event is stored; returns an unsubscribe function. */
  onBreach(listener: (breach: Breach) => void): () => void;
  /** Deletes rows past retention now; resolves with rows deleted. */
  prune(): Promise<number>;
  stats(): TelemetryServiceStats;
  /** Messages received and not yet committed: in the open batch and in batches waiting for the store. */
  backlog(): number;
  /** Window close → commit, ms (`TelemetryIngest.storeDelays`). */
  storeDelays(): StoreDelayHistogram;
}

export function createTelemetryService(options: TelemetryServiceOptions): TelemetryService {
  const repo = options.telemetry;
  const log = options.logger;
  const now = () => options.clock.now();
  const listeners = new Set<(b: Breach) => void>();
  const ackCounters = { acksPublished: 0, ackPublishFailures: 0 };

  /**
   * QoS 0 [EF-PROTO 8.2]: a lost acknowledgement costs one resend, which is deduplicated and
   * acknowledged again; QoS 1 would make the broker queue acknowledgements in the session of
   * every offline device, where the resend on reconnect makes them obsolete anyway.
   */
  function publishAcks(acks: readonly TelemetryAck[]): void {
    const client = options.client;
    if (!client) return;
    for (const ack of acks) {
      client.publish(deviceTopic(ack.deviceId, 'telemetry-ack'), encodeMessage(ack), { qos: 0, retain: false }).then(
        () => {
          ackCounters.acksPublished += 1;
        },
        (err: unknown) => {
          ackCounters.ackPublishFailures += 1;
          log.debug({ err, deviceId: ack.deviceId }, 'telemetry acknowledgement not sent; the agent will resend');
        },
      );
    }
  }

  function announceBreach(b: Breach): void {
    const fields = { deviceId: b.deviceId, deviceClass: b.deviceClass, budget: b.budget, state: b.state };
    log.info(
      { ...fields, measured: b.measured, limit: b.limit },
      b.state === 'breached' ? 'device reports a budget breach' : 'device reports a budget recovered',
    );
    for (const l of listeners) {
      try {
        l(b);
      } catch (err: unknown) {
        log.warn({ err }, 'breach listener failed');
      }
    }
  }

  const ingest: TelemetryIngest = createTelemetryIngest({
    telemetry: repo,
    clock: options.clock,
    logger: log,
    ...stripUndefined({
      batchSize: options.batchSize,
      flushIntervalMs: options.flushIntervalMs,
    }),
    onReject: (r) => options.onReject?.(r),
    onCommitted: publishAcks,
    onBreach: announceBreach,
  });
  let unsubscribe: Array<() => void> = [];

  function prune(): Promise<number> {
    const at = now();
    return repo.prune(
      at - (options.windowRetentionMs ?? 86_400_000),
      at - (options.rollupRetentionMs ?? 30 * 86_400_000),
    );
  }

  async function budgetsFor(deviceClass: string): Promise<{ budgets: TelemetryBudgets; source: BudgetSource }> {
    const row = await options.classes.get(deviceClass);
    if (row?.budgets) {
      const budgets = budgetsFromClass(row.budgets);
      if (Object.keys(budgets).length > 0) return { budgets, source: 'class' };
    }
    // No class budgets: the limits the agents watch are their manifests', and breach events carry them.
    const budgets: { [K in WatchedBudget]?: number } = {};
    for (const { breach } of await repo.breaches({ deviceClass, limit: 500 })) budgets[breach.budget] = breach.limit;
    return { budgets, source: Object.keys(budgets).length > 0 ? 'manifest' : 'none' };
  }

  async function classBudgetStatus(
    deviceClass: string,
    rule: StatusRule & { readonly activeWithinMs?: number } = {},
  ): Promise<ClassBudgetStatus> {
    await ingest.flush();
    const merged = { ...options.rule, ...rule };
    const since = now() - (rule.activeWithinMs ?? options.activeWithinMs ?? 120_000);
    const byDevice = new Map<string, WindowRow[]>();
    for (const row of await repo.recentByClass(deviceClass, since)) {
      const list = byDevice.get(row.deviceId) ?? [];
      list.push(row);
      byDevice.set(row.deviceId, list);
    }
    const { budgets, source } = await budgetsFor(deviceClass);
    return classStatus(deviceClass, byDevice, budgets, source, merged);
  }

  async function deviceBudgetStatus(deviceId: string, rule: StatusRule = {}): Promise<DeviceBudgetStatus | null> {
    await ingest.flush();
    const merged = { ...options.rule, ...rule };
    const info = await repo.device(deviceId);
    if (!info) return null;
    const windows = await repo.lastWindows(deviceId, merged.n ?? 5);
    return deviceStatus(deviceId, info.deviceClass, windows, (await budgetsFor(info.deviceClass)).budgets, merged);
  }

  /** Every read first writes what is buffered, so a query sees each window the server has received. */
  const fresh =
    <A extends unknown[], R>(read: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await ingest.flush();
      return read(...args);
    };

  return {
    async start() {
      const { client } = options;
      let inbound = options.inbound ?? null;
      if (!inbound && client) {
        // Standalone (no server around it): a router of its own decodes and counts once.
        inbound = createInboundRouter({
          logger: log,
          onReject: (r) => options.onReject?.(r),
          ...stripUndefined({ maxPayloadBytes: options.maxPayloadBytes }),
        });
        unsubscribe.push(client.onMessage(inbound.handleMessage));
      }
      if (inbound) {
        unsubscribe.push(inbound.on('telemetry', (m) => ingest.accept(m)));
        unsubscribe.push(inbound.on('breach', (m) => ingest.accept(m)));
      }
      if (client) await client.subscribe(TELEMETRY_FILTERS, 1);
      options.scheduler?.add({
        name: 'telemetry-retention',
        schedule: { everyMs: options.pruneEveryMs ?? 60_000 },
        run: async () => {
          if (!options.ownership || (await options.ownership.claim('telemetry-retention'))) await prune();
        },
      });
    },
    async stop() {
      for (const off of unsubscribe) off();
      unsubscribe = [];
      await ingest.close();
    },
    ingest: ingest.accept,
    flush: async () => {
      await ingest.flush();
    },
    deviceSeries: fresh((deviceId: string, range: SeriesRange = {}) => repo.windows(deviceId, range)),
    classSeries: fresh((deviceClass: string, range: SeriesRange = {}) => repo.rollups(deviceClass, range)),
    budgetsFor,
    deviceBudgetStatus,
    classBudgetStatus,
    gaps: fresh((deviceId?: string) => repo.gaps(deviceId)),
    device: fresh((deviceId: string) => repo.device(deviceId)),
    breaches: fresh((filter: BreachFilter = {}) => repo.breaches(filter)),
    onBreach: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    prune,
    stats: () => ({ ...ingest.stats(), ...ackCounters }),
    backlog: () => ingest.buffered() + ingest.unstored(),
    storeDelays: () => ingest.storeDelays(),
  };
}
