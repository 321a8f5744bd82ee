/**
 * Signed desired-state manifests [EF-PROTO 6.1–6.3]: built from a rollout's data, signed
 * with the active key, published retained on the device's `desired` channel, and cleared
 * with a zero-length retained publish when nothing is assigned.
 */
import {
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  stripUndefined,
  type ArtifactLayout,
  type Desired,
  type GoldenSet,
  type ManifestBody,
  type ManifestSigner,
} from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';

export interface ManifestInit {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly deploymentId: string;
  readonly rolloutId: string;
  readonly purpose: ManifestBody['purpose'];
  readonly variantId: string;
  readonly layout: ArtifactLayout;
  readonly golden: GoldenSet;
  readonly budgets: ManifestBody['budgets'] | null;
  readonly previous: ManifestBody['previous'];
  /** HTTP(S) URL of the same bytes (optional transport). */
  readonly url?: string;
  readonly issuedAt: number;
}

/** Builds and signs a `desired` message. */
export function buildDesired(signer: ManifestSigner, init: ManifestInit): Desired {
  const { layout } = init;
  const body: ManifestBody = {
    deviceId: init.deviceId,
    deviceClass: init.deviceClass,
    deploymentId: init.deploymentId,
    rolloutId: init.rolloutId,
    purpose: init.purpose,
    variantId: init.variantId,
    format: 'onnx',
    artifact: {
      sha256: layout.sha256,
      size: layout.size,
      chunkSize: layout.chunkSize,
      chunkCount: layout.chunkCount,
      chunks: [...layout.chunks],
      ...stripUndefined({ url: init.url, encoding: layout.encoding, encodedSize: layout.encodedSize }),
    },
    golden: init.golden,
    ...(init.budgets ? { budgets: init.budgets } : {}),
    previous: init.previous,
    issuedAt: init.issuedAt,
    keyId: signer.keyId,
  };
  return { type: 'desired', v: PROTOCOL_VERSION, deviceId: init.deviceId, body, signature: signer.sign(body) };
}

/** Publishes a manifest retained, QoS 1: the broker hands it to the device on every (re)connect. */
export async function publishDesired(publish: BrokerClient['publish'], desired: Desired): Promise<void> {
  await publish(deviceTopic(desired.deviceId, 'desired'), encodeMessage(desired), { qos: 1, retain: true });
}

/** Nothing assigned: a zero-length retained publish removes the retained manifest [MQTT-3.3.1-10]. */
export async function clearDesired(publish: BrokerClient['publish'], deviceId: string): Promise<void> {
  await publish(deviceTopic(deviceId, 'desired'), Buffer.alloc(0), { qos: 1, retain: true });
}
