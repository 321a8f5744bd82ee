import type { RejectReason } from '@edgefleet/shared';
import type { VariantJobRunner } from '../plan/variants.js';
import type { SearchJobs } from '../plan/search-jobs.js';
import { summarizePresence } from '../registry/summary.js';
import type { DeviceRepository } from '../store/devices.js';
import type { EventBus } from '../events/bus.js';
import type { BrokerClient } from '../broker/client.js';
import { createPlanner, type Planner } from '../plan/planner.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { Repositories } from '../store/index.js';
import { createLabelledHistogram, type LabelledCounter, type MetricFamily, type MetricsRegistry } from './metrics.js';
import { stripUndefined } from '@edgefleet/shared';

/** Compression job durations: seconds to minutes (PaddleOCR det int8-static with fallback takes minutes). */
const BUILD_BUCKETS_S = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];

/**
 * A planner whose variant builds are observed in `edgefleet_compression_job_duration_seconds`.
 * The server makes exactly one and shares it between the admin API and the control loop, so
 * the histogram counts every build, whoever asked for it.
 */
export function createMeteredPlanner(o: {
  readonly repos: Pick<Repositories, 'classes' | 'models' | 'variants' | 'plans'>;
  readonly dataDir: string;
  readonly now: () => number;
  readonly metrics: MetricsRegistry;
  readonly timedRuns?: number;
  /** Where variant builds run; default a worker thread here (the job queue with replicas). */
  readonly runJob?: VariantJobRunner;
}): Planner {
  const builds = createLabelledHistogram(
    'edgefleet_compression_job_duration_seconds',
    'Variant builds (compress + evaluate in a worker) by recipe precision and result, seconds.',
    BUILD_BUCKETS_S,
  );
  o.metrics.register(() => [builds.family()]);
  return createPlanner({
    classes: o.repos.classes,
    models: o.repos.models,
    variants: o.repos.variants,
    plans: o.repos.plans,
    dataDir: o.dataDir,
    now: o.now,
    ...stripUndefined({ timedRuns: o.timedRuns, runJob: o.runJob }),
    onBuild: (b) =>
      builds.observe(
        { precision: b.precision, result: b.ok ? 'ok' : 'failed', compressed: String(b.compressed) },
        b.durationMs / 1000,
      ),
  });
}

export interface CoreMetricSources {
  readonly devices: Pick<DeviceRepository, 'list'>;
  readonly rejections: () => Readonly<Record<RejectReason, number>>;
  /** CONNECTs the embedded broker refused, by reason. */
  readonly refused: LabelledCounter;
  /** Enrollment requests answered, by outcome. */
  readonly enrollments: () => Readonly<Record<string, number>>;
  readonly events: EventBus;
}

/** The foundation's metrics: presence per class, rejected messages, refused connections, enrollments. */
export function coreMetrics(sources: CoreMetricSources): () => Promise<MetricFamily[]> {
  return async () => {
    const perClass = summarizePresence(await sources.devices.list());
    return [
      {
        name: 'edgefleet_devices_online',
        help: 'Devices online now, per device class.',
        type: 'gauge',
        samples: perClass.map((c) => ({ labels: { class: c.deviceClass }, value: c.online })),
      },
      {
        name: 'edgefleet_devices_registered',
        help: 'Devices registered (online or not), per device class.',
        type: 'gauge',
        samples: perClass.map((c) => ({ labels: { class: c.deviceClass }, value: c.total })),
      },
      {
        name: 'edgefleet_messages_rejected_total',
        help: 'Inbound MQTT messages rejected, by reason.',
        type: 'counter',
        samples: Object.entries(sources.rejections()).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      sources.refused.family(),
      {
        name: 'edgefleet_enrollments_total',
        help: 'Enrollment requests answered, by outcome.',
        type: 'counter',
        samples: Object.entries(sources.enrollments()).map(([outcome, value]) => ({ labels: { outcome }, value })),
      },
      {
        name: 'edgefleet_event_stream_clients',
        help: 'Open subscriptions to the fleet event bus (SSE clients and in-process listeners).',
        type: 'gauge',
        samples: [{ value: sources.events.listeners() }],
      },
    ];
  };
}

/** Search jobs ended, by result (`timeout`: failed on its time budget, also counted as failed). */
export function searchMetrics(searches: Pick<SearchJobs, 'ended'>): () => MetricFamily[] {
  return () => [
    {
      name: 'edgefleet_search_jobs_total',
      help: 'Search jobs ended, by result (timeout: ran out of its time budget; a subset of failed).',
      type: 'counter',
      samples: Object.entries(searches.ended()).map(([result, value]) => ({ labels: { result }, value })),
    },
  ];
}

/** MQTT messages the server's client received (in) and published (out), by channel. */
export function mqttTrafficMetrics(client: Pick<BrokerClient, 'traffic'>): () => MetricFamily[] {
  return () => {
    const t = client.traffic();
    const samples = (direction: 'in' | 'out', by: Readonly<Record<string, number>>) =>
      Object.entries(by).map(([channel, value]) => ({ labels: { direction, channel }, value }));
    return [
      {
        name: 'edgefleet_mqtt_messages_total',
        help: 'MQTT messages the server received (in) and published (out), by channel.',
        type: 'counter',
        samples: [...samples('in', t.received), ...samples('out', t.published)],
      },
    ];
  };
}

/** Runs of the scheduler's tasks by result, and runs skipped because the previous one still ran. */
export function schedulerMetrics(scheduler: Pick<Scheduler, 'tasks'>): () => MetricFamily[] {
  return () => {
    const tasks = scheduler.tasks();
    return [
      {
        name: 'edgefleet_scheduler_runs_total',
        help: "Runs of the server's scheduled tasks, by task and result.",
        type: 'counter',
        samples: tasks.flatMap((t) => [
          { labels: { task: t.name, result: 'ok' }, value: t.runs - t.failures },
          { labels: { task: t.name, result: 'failed' }, value: t.failures },
        ]),
      },
      {
        name: 'edgefleet_scheduler_overlaps_total',
        help: 'Runs skipped because the previous run of the same task had not finished, by task.',
        type: 'counter',
        samples: tasks.map((t) => ({ labels: { task: t.name }, value: t.overlaps })),
      },
    ];
  };
}
