/**
 * Where int8-static gets each activation's range: one calibration method for every tensor, or
 * (`auto`, the default) the best of minmax, percentile and entropy chosen per tensor — the range
 * whose fake quantization of that tensor's calibration values has the smallest relative error
 * ‖x − fq(x)‖/‖x‖. Layers differ: a tensor with a few large outliers loses its small values to a
 * minmax range and wants a clipped one, while a tensor whose tail carries signal (a detector's
 * strongest responses) loses exactly that to clipping. Choices are cached, so the sensitivity
 * fallback's rounds calibrate each tensor once.
 */
import type { Model } from '../ir/types.js';
import type { CalibRange, CalibrationMethod } from '../quant/calibrators.js';
import type { CalibrationRunner } from './types.js';

/** A calibration method, or `auto` (per tensor, the method with the smallest quantization error). */
export type RangeMethod = CalibrationMethod | 'auto';

/** The range a tensor gets and how it was chosen. */
export interface RangeChoice {
  readonly range: CalibRange;
  readonly method: CalibrationMethod;
  /** Relative fake-quantization error of each method tried (`auto` only). */
  readonly errors?: Readonly<Partial<Record<CalibrationMethod, number>>>;
}

/** Chooses (and remembers) activation ranges. */
export interface RangeSource {
  choose(model: Model, tensors: readonly string[]): Promise<Map<string, RangeChoice> | string>;
}

/** Options of {@link createRangeSource}. */
export interface RangeSourceOptions {
  readonly method?: RangeMethod;
  readonly percentile?: number;
  readonly activationType?: 'uint8' | 'int8';
}

const AUTO_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** A range source over `calibration`; the float model must not change between calls (ranges are cached). */
export function createRangeSource(calibration: CalibrationRunner, opts: RangeSourceOptions = {}): RangeSource {
  const known = new Map<string, RangeChoice>();
  const method = opts.method ?? 'auto';
  const pct = opts.percentile === undefined ? {} : { percentile: opts.percentile };
  return {
    async choose(model, tensors) {
      const todo = tensors.filter((t) => !known.has(t));
      if (todo.length > 0) {
        const methods = method === 'auto' ? AUTO_METHODS : [method];
        // One pass gives every method's range (they share one histogram per tensor).
        const byMethod =
          methods.length > 1
            ? await calibration.rangesByMethod(model, todo, methods, pct)
            : new Map([
                [method as CalibrationMethod, await calibration.ranges(model, todo, method as CalibrationMethod, pct)],
              ]);
        const missing = todo.filter((t) => methods.some((m) => !byMethod.get(m)?.has(t)));
        if (missing.length > 0)
          return `calibration produced no range for ${missing.slice(0, 5).join(', ')}; is the data the model's input?`;
        const candidates = new Map(todo.map((t) => [t, methods.map((m) => byMethod.get(m)?.get(t) as CalibRange)]));
        const errors =
          methods.length > 1
            ? await calibration.rangeErrors(model, candidates, opts.activationType ?? 'uint8')
            : undefined;
        for (const t of todo)
          known.set(
            t,
            pick(
              t,
              methods,
              candidates.get(t) ?? [],
              methods.length > 1 ? (errors?.get(t) ?? sameErrors(methods)) : undefined,
            ),
          );
      }
      return new Map(tensors.map((t) => [t, known.get(t) as RangeChoice]));
    },
  };
}

/** Error list for a tensor whose candidate ranges are all equal (any choice is the same; minmax is named). */
function sameErrors(methods: readonly CalibrationMethod[]): number[] {
  return methods.map(() => 0);
}

function pick(
  tensor: string,
  methods: readonly CalibrationMethod[],
  ranges: readonly CalibRange[],
  errors: readonly number[] | undefined,
): RangeChoice {
  let best = 0;
  if (errors)
    for (let k = 1; k < methods.length; k++) if ((errors[k] ?? Infinity) < (errors[best] ?? Infinity)) best = k;
  const range = ranges[best];
  const chosen = methods[best];
  if (!range || !chosen) throw new Error(`no range for ${tensor}`);
  if (!errors) return { range, method: chosen };
  return { range, method: chosen, errors: Object.fromEntries(methods.map((m, k) => [m, errors[k] ?? Infinity])) };
}

/**
 * A report phrase for one tensor's range, e.g. `entropy range (error minmax 0.031, percentile 0.012, entropy 0.009)`.
 */
export function describeChoice(c: RangeChoice | undefined): string {
  if (!c) return '';
  if (!c.errors) return `${c.method} range`;
  const tried = Object.entries(c.errors)
    .map(([m, e]) => `${m} ${(e ?? 0).toFixed(4)}`)
    .join(', ');
  return `${c.method} range (quantization error ${tried})`;
}
