/**
 * Choosing a front member with the class speed model corrected by telemetry: a member's
 * predicted p95 (and energy/power, which scale with busy time) is multiplied by the measured ÷
 * predicted latency ratio of the variant the devices serve now. Pure functions.
 */
import type { Budgets } from '@edgefleet/shared';
import type { DeviceObservation, PlanMember, Precision } from './model.js';

/** Higher is more precise. */
export const PRECISION_RANK: Readonly<Record<Precision, number>> = { int4: 0, int8: 1, fp16: 2, fp32: 3 };

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median measured ÷ predicted p95 over the devices serving `member` (null: no figure). */
export function latencyRatio(member: PlanMember | null, devices: readonly DeviceObservation[]): number | null {
  if (!member || member.predictedP95Ms <= 0) return null;
  const measured = devices
    .filter((d) => d.variantSha === member.artifactSha && d.p95Ms !== null)
    .map((d) => d.p95Ms as number);
  const m = median(measured);
  return m === null ? null : m / member.predictedP95Ms;
}

/** The variant most devices serve, as a plan member (null: unknown to the plan). */
export function currentMember(
  members: readonly PlanMember[],
  devices: readonly DeviceObservation[],
): PlanMember | null {
  const counts = new Map<string, number>();
  for (const d of devices) if (d.variantSha !== null) counts.set(d.variantSha, (counts.get(d.variantSha) ?? 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
  return top === undefined ? null : (members.find((m) => m.artifactSha === top[0]) ?? null);
}

/** Predictions of a member under the corrected model. */
export function corrected(member: PlanMember, ratio: number): { p95Ms: number; powerW: number; energyMj: number } {
  return {
    p95Ms: member.predictedP95Ms * ratio,
    powerW: member.predictedPowerW * ratio,
    energyMj: member.predictedEnergyMj * ratio,
  };
}

/** Why a member does not fit the budgets under the corrected model (empty: it fits). */
export function misfits(member: PlanMember, budgets: Budgets, ratio: number, margin: number): string[] {
  const c = corrected(member, ratio);
  const out: string[] = [];
  if (budgets.maxP95LatencyMs !== undefined && c.p95Ms > budgets.maxP95LatencyMs * margin)
    out.push(`p95 ${c.p95Ms.toFixed(1)} ms > ${(budgets.maxP95LatencyMs * margin).toFixed(1)}`);
  if (budgets.maxAvgPowerW !== undefined && c.powerW > budgets.maxAvgPowerW * margin)
    out.push(`power ${c.powerW.toFixed(2)} W > ${(budgets.maxAvgPowerW * margin).toFixed(2)}`);
  if (budgets.maxEnergyPerInferenceMj !== undefined && c.energyMj > budgets.maxEnergyPerInferenceMj * margin)
    out.push(`energy ${c.energyMj.toFixed(1)} mJ > ${(budgets.maxEnergyPerInferenceMj * margin).toFixed(1)}`);
  if (budgets.maxModelBytes !== undefined && member.bytes > budgets.maxModelBytes)
    out.push(`size ${member.bytes} B > ${budgets.maxModelBytes}`);
  if (
    budgets.minAccuracyPct !== undefined &&
    member.accuracyPct !== null &&
    member.accuracyPct < budgets.minAccuracyPct
  )
    out.push(`accuracy ${member.accuracyPct}% < ${budgets.minAccuracyPct}%`);
  return out;
}

const byAccuracyThenSpeed = (a: PlanMember, b: PlanMember): number =>
  (b.accuracyPct ?? -1) - (a.accuracyPct ?? -1) ||
  a.predictedP95Ms - b.predictedP95Ms ||
  a.recipe.localeCompare(b.recipe);

/**
 * Latency, power or size breach: the most accurate front member (other than the current one
 * and not recently failed) predicted to fit under the corrected model; null when none does.
 */
export function chooseFitting(
  members: readonly PlanMember[],
  budgets: Budgets,
  ratio: number,
  margin: number,
  exclude: ReadonlySet<string>,
): PlanMember | null {
  return (
    members
      .filter((m) => m.onFront && !exclude.has(m.artifactSha) && misfits(m, budgets, ratio, margin).length === 0)
      .sort(byAccuracyThenSpeed)[0] ?? null
  );
}

/**
 * Accuracy breach: the next more accurate variant. When the breach is on-device (the host
 * accuracy met the budget), the device computes the current precision wrongly, so the next
 * step up is the least precise member of a higher precision that fits the other budgets.
 */
export function chooseMoreAccurate(
  members: readonly PlanMember[],
  current: PlanMember | null,
  budgets: Budgets,
  ratio: number,
  margin: number,
  exclude: ReadonlySet<string>,
): PlanMember | null {
  const rank = current ? PRECISION_RANK[current.precision] : -1;
  const acc = current?.accuracyPct ?? -1;
  const up = members.filter(
    (m) =>
      !exclude.has(m.artifactSha) &&
      (PRECISION_RANK[m.precision] > rank || (PRECISION_RANK[m.precision] === rank && (m.accuracyPct ?? -1) > acc)),
  );
  // The accuracy budget is judged by the device here, not by the host figure.
  const { minAccuracyPct: _hostJudged, ...others } = budgets;
  const fitting = up.filter((m) => misfits(m, others, ratio, margin).length === 0);
  return (
    fitting.sort(
      (a, b) =>
        PRECISION_RANK[a.precision] - PRECISION_RANK[b.precision] ||
        (b.accuracyPct ?? -1) - (a.accuracyPct ?? -1) ||
        a.predictedP95Ms - b.predictedP95Ms,
    )[0] ?? null
  );
}
