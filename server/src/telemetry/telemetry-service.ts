/**
 * The server's telemetry service: subscribes to every device's `telemetry` and `events`,
 * ingests in batches, acknowledges each committed batch to its devices on `telemetry-ack`,
 * prunes by retention, and answers the queries the admin API and the control loop ask:
 * per-device and per-class series and current budget status.
 */
import {
  allDevicesFilter,
  budgetsSchema,
  deviceTopic,
  encodeMessage,
  type Breach,
  type RejectReason,
  type TelemetryAck,
  type TelemetryWindow,
  type WatchedBudget,
} from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import { createInboundRouter, type InboundRouter } from '../broker/inbound.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/db.js';
import type { BreachRow, DeviceTelemetryRow, GapRow, MinuteRollup, WindowRow } from '../store/telemetry-tables.js';
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
import { createTelemetryIngest, type IngestStats, type TelemetryIngest } from './ingest.js';

/** Topics the telemetry service subscribes to. */
export const TELEMETRY_FILTERS: readonly string[] = [allDevicesFilter('telemetry'), allDevicesFilter('events')];

export interface TelemetryServiceOptions {
  readonly store: Store;
  readonly client?: BrokerClient;
  /**
   * The server's inbound router; `start()` registers the `telemetry` and `breach` handlers
   * there. Without one, a service given a `client` decodes through a router of its own.
   */
  readonly inbound?: InboundRouter;
  readonly now: () => number;
  readonly logger: Logger;
  readonly maxPayloadBytes?: number;
  /** Messages per transaction. Default 200. */
  readonly batchSize?: number;
  /** Longest a message waits for its transaction, ms. Default 250. */
  readonly flushIntervalMs?: number;
  /** Per-device windows kept, ms. Default 24 h. */
  readonly windowRetentionMs?: number;
  /** Per-class minute rollups kept, ms. Default 30 days. */
  readonly rollupRetentionMs?: number;
  /** How often retention runs, ms; 0: never on a timer. Default 60 000. */
  readonly pruneIntervalMs?: number;
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
  /** Subscribes (when a broker client was given) and starts the retention timer. */
  start(): Promise<void>;
  /** Flushes the buffer and stops timers and the subscription handler. */
  stop(): void;
  /** Ingests one decoded window or breach event (what the inbound router hands over). */
  ingest(message: TelemetryWindow | Breach): void;
  /** Writes buffered messages now (tests and the control loop call this before observing). */
  flush(): void;
  deviceSeries(deviceId: string, range?: SeriesRange): WindowRow[];
  classSeries(deviceClass: string, range?: SeriesRange): MinuteRollup[];
  /** Limits for a class: the planner's class budgets when it has them, else the latest limits the agents reported in breach events. */
  budgetsFor(deviceClass: string): { readonly budgets: TelemetryBudgets; readonly source: BudgetSource };
  deviceBudgetStatus(deviceId: string, rule?: StatusRule): DeviceBudgetStatus | null;
  classBudgetStatus(deviceClass: string, rule?: StatusRule & { readonly activeWithinMs?: number }): ClassBudgetStatus;
  gaps(deviceId?: string): GapRow[];
  device(deviceId: string): DeviceTelemetryRow | null;
  breaches(filter?: { deviceClass?: string; deviceId?: string; since?: number; limit?: number }): BreachRow[];
  /** Called after each breach event is stored; returns an unsubscribe function. */
  onBreach(listener: (breach: Breach) => void): () => void;
  /** Deletes rows past retention now; returns rows deleted. */
  prune(): number;
  stats(): TelemetryServiceStats;
}

export function createTelemetryService(options: TelemetryServiceOptions): TelemetryService {
  const tables = options.store.telemetry;
  const log = options.logger;
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

  const ingest: TelemetryIngest = createTelemetryIngest({
    tables,
    now: options.now,
    logger: log,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ...(options.flushIntervalMs === undefined ? {} : { flushIntervalMs: options.flushIntervalMs }),
    onCommitted: publishAcks,
    onReject: (r) => options.onReject?.(r),
    onBreach: (b) => {
      log.info(
        {
          deviceId: b.deviceId,
          deviceClass: b.deviceClass,
          budget: b.budget,
          state: b.state,
          measured: b.measured,
          limit: b.limit,
        },
        b.state === 'breached' ? 'device reports a budget breach' : 'device reports a budget recovered',
      );
      for (const l of listeners) {
        try {
          l(b);
        } catch (err: unknown) {
          log.warn({ err }, 'breach listener failed');
        }
      }
    },
  });
  let unsubscribe: Array<() => void> = [];
  let pruneTimer: NodeJS.Timeout | null = null;

  function prune(): number {
    const now = options.now();
    return tables.prune(
      now - (options.windowRetentionMs ?? 86_400_000),
      now - (options.rollupRetentionMs ?? 30 * 86_400_000),
    );
  }

  function budgetsFor(deviceClass: string): { budgets: TelemetryBudgets; source: BudgetSource } {
    const row = options.store.planner.getClass(deviceClass);
    const parsed = row?.budgets == null ? null : budgetsSchema.safeParse(row.budgets);
    if (parsed?.success) {
      const budgets = budgetsFromClass(parsed.data);
      if (Object.keys(budgets).length > 0) return { budgets, source: 'class' };
    }
    // No planner budgets: the limits the agents watch are their manifests', and breach events carry them.
    const budgets: { [K in WatchedBudget]?: number } = {};
    for (const { breach } of tables.breaches({ deviceClass, limit: 500 })) budgets[breach.budget] = breach.limit;
    return { budgets, source: Object.keys(budgets).length > 0 ? 'manifest' : 'none' };
  }

  function classBudgetStatus(
    deviceClass: string,
    rule: StatusRule & { readonly activeWithinMs?: number } = {},
  ): ClassBudgetStatus {
    ingest.flush();
    const merged = { ...options.rule, ...rule };
    const since = options.now() - (rule.activeWithinMs ?? options.activeWithinMs ?? 120_000);
    const byDevice = new Map<string, WindowRow[]>();
    for (const row of tables.recentByClass(deviceClass, since)) {
      const list = byDevice.get(row.deviceId) ?? [];
      list.push(row);
      byDevice.set(row.deviceId, list);
    }
    const { budgets, source } = budgetsFor(deviceClass);
    return classStatus(deviceClass, byDevice, budgets, source, merged);
  }

  function deviceBudgetStatus(deviceId: string, rule: StatusRule = {}): DeviceBudgetStatus | null {
    ingest.flush();
    const merged = { ...options.rule, ...rule };
    const info = tables.device(deviceId);
    if (!info) return null;
    return deviceStatus(
      deviceId,
      info.deviceClass,
      tables.lastWindows(deviceId, merged.n ?? 5),
      budgetsFor(info.deviceClass).budgets,
      merged,
    );
  }

  return {
    async start() {
      const { client } = options;
      let inbound = options.inbound ?? null;
      if (!inbound && client) {
        // Standalone (no server around it): a router of its own decodes and counts once.
        inbound = createInboundRouter({
          logger: log,
          onReject: (r) => options.onReject?.(r),
          ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
        });
        unsubscribe.push(client.onMessage(inbound.handleMessage));
      }
      if (inbound) {
        unsubscribe.push(inbound.on('telemetry', (m) => ingest.accept(m)));
        unsubscribe.push(inbound.on('breach', (m) => ingest.accept(m)));
      }
      if (client) await client.subscribe(TELEMETRY_FILTERS, 1);
      const every = options.pruneIntervalMs ?? 60_000;
      if (every > 0) {
        pruneTimer = setInterval(() => {
          try {
            prune();
          } catch (err: unknown) {
            log.error({ err }, 'telemetry retention failed');
          }
        }, every);
        pruneTimer.unref();
      }
    },
    stop() {
      if (pruneTimer) clearInterval(pruneTimer);
      pruneTimer = null;
      for (const off of unsubscribe) off();
      unsubscribe = [];
      ingest.close();
    },
    ingest: ingest.accept,
    flush: () => {
      ingest.flush();
    },
    deviceSeries: (deviceId, range = {}) => {
      ingest.flush();
      return tables.windows(deviceId, range);
    },
    classSeries: (deviceClass, range = {}) => {
      ingest.flush();
      return tables.rollups(deviceClass, range);
    },
    budgetsFor,
    deviceBudgetStatus,
    classBudgetStatus,
    gaps: (deviceId) => {
      ingest.flush();
      return tables.gaps(deviceId);
    },
    device: (deviceId) => {
      ingest.flush();
      return tables.device(deviceId);
    },
    breaches: (filter = {}) => {
      ingest.flush();
      return tables.breaches(filter);
    },
    onBreach: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    prune,
    stats: () => ({ ...ingest.stats(), ...ackCounters }),
  };
}
