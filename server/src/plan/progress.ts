/**
 * What `plan` shows per candidate once it is built (issue 21): its size, accuracy, host p95 and
 * the class's predicted latency and energy, or why it failed. Pure: a built variant in, a plain
 * summary out; the planner sends it with its progress and the API puts it on the event bus.
 */
import type { DeviceClass, PlanBuiltSummary } from '@edgefleet/shared';
import type { Candidate } from './candidates.js';
import { hostP95At, predict, round, type EffectiveSpeedModel } from './predict.js';
import type { Variant } from './variants.js';

/** The summary of one built (or failed) candidate for a class. */
export function builtSummary(
  candidate: Candidate,
  variant: Variant,
  cls: Pick<DeviceClass, 'powerModel'>,
  speed: EffectiveSpeedModel,
): PlanBuiltSummary {
  const e = variant.evaluation;
  const top1 = e?.accuracy?.top1 ?? e?.fidelity?.top1Agreement ?? null;
  const hostP95 = hostP95At(e, cls);
  const p = hostP95 === null ? null : predict(hostP95, candidate.precision, cls, speed);
  return {
    ok: variant.error === null,
    bytes: variant.bytes,
    accuracyPct: top1 === null ? null : round(top1 * 100, 2),
    hostP95Ms: hostP95 === null ? null : round(hostP95),
    predictedP95Ms: p?.p95LatencyMs ?? null,
    predictedMj: p?.energyPerInferenceMj ?? null,
    error: variant.error,
  };
}
