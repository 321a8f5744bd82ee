/**
 * Optional properties under `exactOptionalPropertyTypes`: a property typed `x?: T` may be
 * missing but not `undefined`, so options assembled from values that may be undefined must
 * leave those keys out. `stripUndefined` does that once, instead of a conditional spread per
 * property (`...(x === undefined ? {} : { x })`).
 */

type KeysMaybeUndefined<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];
type KeysNeverUndefined<T> = Exclude<keyof T, KeysMaybeUndefined<T>>;

/** `T` with every property that may be undefined turned into an optional one that never is. */
export type StripUndefined<T> = { [K in KeysNeverUndefined<T>]: T[K] } & {
  [K in KeysMaybeUndefined<T>]?: Exclude<T[K], undefined>;
};

/** A shallow copy of `o` without its undefined properties (null and other falsy values stay). */
export function stripUndefined<T extends object>(o: T): StripUndefined<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) if (value !== undefined) out[key] = value;
  return out as StripUndefined<T>;
}

/** `T` read-only all the way down (arrays become readonly arrays), for data built once and never edited. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;
