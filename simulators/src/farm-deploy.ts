/**
 * Sampled deployment for farm devices on the real link: a `desired` manifest makes the device
 * serve the variant after `installMs` (its telemetry switches to the variant's shared
 * measurement and the manifest's budgets) and answer with a `deploy-report`, as the agent
 * would. A slow-link fault adds the artifact's bytes over its link speed to the install
 * time; a device that is crashed when the install is due loses it (the broker redelivers the
 * retained manifest when it reconnects, and the install starts again). Not simulated:
 * signatures, chunk download, the golden-set smoke test.
 */
import { PROTOCOL_VERSION, stripUndefined, transferSizeOf, type DeployReport, type Desired } from '@edgefleet/shared';
import type { Clock } from '@edgefleet/agent';
import type { SimulatedModel } from './sim-telemetry.js';
import type { VirtualDevice } from './virtual-device.js';

/** The shared measurement of a variant by sha256, without identity (null: unknown, the install fails). */
export type VariantLookup = (
  sha256: string,
  deviceClass: string,
) => Omit<SimulatedModel, 'sha256' | 'variantId' | 'budgets'> | null;

export interface FarmDeployOptions {
  readonly variant: VariantLookup;
  /** Time from manifest to serving, ms. Default 1000. */
  readonly installMs?: number;
  readonly clock: Clock;
  /** Called after each install (tests and the demo show progress). */
  readonly onInstalled?: (deviceId: string, sha256: string, ok: boolean) => void;
}

function install(device: VirtualDevice, desired: Desired, o: FarmDeployOptions): void {
  if (device.faultEffects().crashed) return;
  const body = desired.body;
  const measured = o.variant(body.artifact.sha256, device.deviceClass);
  const sim = device.telemetry;
  if (measured && sim) {
    const b = body.budgets;
    sim.setModel({
      ...measured,
      sha256: body.artifact.sha256,
      variantId: body.variantId,
      ...(b
        ? {
            budgets: {
              ...stripUndefined({ latencyP95Ms: b.latencyP95Ms, powerW: b.powerW, minAccuracy: b.minAccuracy }),
            },
          }
        : {}),
    });
  }
  const ok = measured !== null && sim !== null;
  // Built as the schema's type (not cast): a field the protocol changes is a compile error here.
  const report: DeployReport = {
    type: 'deploy-report',
    v: PROTOCOL_VERSION,
    deviceId: device.deviceId,
    deploymentId: body.deploymentId,
    rolloutId: body.rolloutId,
    variantId: body.variantId,
    sha256: body.artifact.sha256,
    state: ok ? (body.purpose === 'rollback' ? 'rolled-back' : 'succeeded') : 'failed',
    ...(ok
      ? {}
      : {
          failure: { step: 'load', reason: 'load-error', detail: 'the simulator has no measurement of this variant' },
        }),
    chunks: { total: body.artifact.chunks.length, fetched: body.artifact.chunks.length, reused: 0, corrupt: 0 },
    serving: sim?.model()?.sha256 ?? null,
    sentAt: o.clock.now(),
  };
  device.link.publish('events', report).catch(() => undefined);
  o.onInstalled?.(device.deviceId, body.artifact.sha256, ok);
}

/** Makes every device answer manifests; returns a function that detaches them. */
export function attachFarmDeploy(devices: readonly VirtualDevice[], o: FarmDeployOptions): () => void {
  const offs = devices.map((device) =>
    device.link.on('desired', (message) => {
      if (message?.type !== 'desired' || message.body.deviceId !== device.deviceId) return;
      const desired = message;
      const bps = device.faultEffects().linkBytesPerSecond;
      const transferMs = bps === null ? 0 : Math.round((transferSizeOf(desired.body.artifact) / bps) * 1000);
      o.clock.setTimeout(() => install(device, desired, o), (o.installMs ?? 1000) + transferMs);
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}
