import type { RejectReason } from '@edgefleet/shared';
import { summarizePresence } from '../registry/summary.js';
import type { DeviceRepository } from '../store/devices.js';
import type { EventBus } from '../events/bus.js';
import type { LabelledCounter, MetricFamily } from './metrics.js';

export interface CoreMetricSources {
  readonly devices: DeviceRepository;
  readonly rejections: () => Readonly<Record<RejectReason, number>>;
  /** CONNECTs the embedded broker refused, by reason. */
  readonly refused: LabelledCounter;
  /** Enrollment requests answered, by outcome. */
  readonly enrollments: () => Readonly<Record<string, number>>;
  readonly events: EventBus;
}

/** The foundation's metrics: presence per class, rejected messages, refused connections, enrollments. */
export function coreMetrics(sources: CoreMetricSources): () => MetricFamily[] {
  return () => {
    const perClass = summarizePresence(sources.devices.list());
    return [
      { name: 'edgefleet_devices_online', help: 'Devices online now, per device class.', type: 'gauge', samples: perClass.map((c) => ({ labels: { class: c.deviceClass }, value: c.online })) },
      { name: 'edgefleet_devices_registered', help: 'Devices registered (online or not), per device class.', type: 'gauge', samples: perClass.map((c) => ({ labels: { class: c.deviceClass }, value: c.total })) },
      { name: 'edgefleet_messages_rejected_total', help: 'Inbound MQTT messages rejected, by reason.', type: 'counter', samples: Object.entries(sources.rejections()).map(([reason, value]) => ({ labels: { reason }, value })) },
      sources.refused.family(),
      { name: 'edgefleet_enrollments_total', help: 'Enrollment requests answered, by outcome.', type: 'counter', samples: Object.entries(sources.enrollments()).map(([outcome, value]) => ({ labels: { outcome }, value })) },
      { name: 'edgefleet_event_stream_clients', help: 'Open subscriptions to the fleet event bus (SSE clients and in-process listeners).', type: 'gauge', samples: [{ value: sources.events.listeners() }] },
    ];
  };
}
