/**
 * Broker-acknowledged delivery (`broker-ack`) [EF-PROTO 8.2]: the outbox drains in order,
 * a few publishes awaiting PUBACK at a time, and an entry leaves once the broker
 * acknowledged it. For callers with no edgefleet server behind the broker; the server's own
 * acknowledgements are in server-ack-delivery.ts.
 */
import type { AnyMessage } from '@edgefleet/shared/device';
import type { OutboxChannel } from './outbox.js';
import type { Delivery, DeliveryOptions, PublishOutcome } from './transport.js';
import { asError } from '@edgefleet/shared/device';

export function createBrokerAckDelivery(options: DeliveryOptions & { readonly publishTimeoutMs: number }): Delivery {
  const { outbox, transport, clock, log, maxInFlight, publishTimeoutMs } = options;
  const counters = { delivered: 0, publishFailures: 0, unpublishable: 0 };
  let drainRound: Promise<void> | null = null;
  let drainAgain = false;

  function publishWithTimeout(channel: OutboxChannel, message: AnyMessage): Promise<PublishOutcome> {
    return new Promise<PublishOutcome>((resolve, reject) => {
      const t = clock.setTimeout(
        () => reject(new Error(`no acknowledgement within ${publishTimeoutMs} ms`)),
        publishTimeoutMs,
      );
      transport.publish(channel, message).then(
        (outcome) => {
          clock.clearTimeout(t);
          resolve(outcome);
        },
        (err: unknown) => {
          clock.clearTimeout(t);
          reject(asError(err));
        },
      );
    });
  }

  async function drain(): Promise<void> {
    while (transport.isOnline()) {
      const batch = outbox.peek(maxInFlight);
      if (batch.length === 0) return;
      const results = await Promise.allSettled(batch.map((e) => publishWithTimeout(e.channel, e.message)));
      // Only an unbroken acknowledged prefix leaves the outbox, so order survives a failure mid-batch.
      const firstFailure = results.findIndex((r) => r.status === 'rejected');
      const acked = firstFailure === -1 ? batch.length : firstFailure;
      if (acked > 0) {
        outbox.ack((batch[acked - 1] as { id: number }).id);
        const skipped = results
          .slice(0, acked)
          .filter((r) => r.status === 'fulfilled' && r.value === 'unpublishable').length;
        counters.unpublishable += skipped;
        counters.delivered += acked - skipped;
      }
      if (firstFailure !== -1) {
        counters.publishFailures += 1;
        log.debug(
          { err: (results[firstFailure] as PromiseRejectedResult).reason as unknown, pending: outbox.pending() },
          'telemetry publish failed; kept in the outbox for the next connection',
        );
        return;
      }
    }
  }

  function flush(): Promise<void> {
    if (drainRound) {
      drainAgain = true;
      return drainRound;
    }
    drainRound = (async () => {
      do {
        drainAgain = false;
        await drain();
      } while (drainAgain && transport.isOnline());
    })()
      .catch((err: unknown) => {
        log.error({ err }, 'telemetry drain failed');
      })
      .finally(() => {
        drainRound = null;
      });
    return drainRound;
  }

  return {
    flush,
    // mqtt.js resends unacknowledged QoS 1 publishes itself after a reconnect; draining again picks up the rest.
    reconnected: () => {
      void flush();
    },
    start: () => undefined,
    stop: () => undefined,
    stats: () => ({ ...counters, awaitingAck: 0, acked: 0, duplicateAcks: 0, unmatchedAcks: 0, resends: 0 }),
  };
}
