/**
 * Seeded payload mutations for the fuzz tests: structure-aware ones on a valid message's
 * JSON (drop, retype or enlarge a field, swap the type or the device, nest deeply) and
 * byte-level ones (bit flips, truncation, random bytes). Every choice comes from one
 * mulberry32 stream, so a failing case is reproduced by its seed and index.
 */

/** mulberry32: a small, fast, seedable PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

/** Values that break schemas in different ways: wrong types, out of range, huge, hostile. */
function hostileValue(rand: () => number): Json {
  return pick(rand, [
    null,
    true,
    -1,
    0,
    1.5,
    2 ** 62,
    -(2 ** 62),
    1e308,
    Number.MAX_SAFE_INTEGER,
    '',
    'x'.repeat(1 + Math.floor(rand() * 70_000)),
    '\u0000\uffff\ud800',
    '__proto__',
    [],
    {},
    JSON.parse('{"__proto__": {"polluted": true}}') as Json,
    { constructor: { prototype: { polluted: true } } },
    Array.from({ length: 1 + Math.floor(rand() * 2000) }, (_, i) => i),
  ]);
}

/** `[[[ … ]]]` nested `depth` levels around `inner`. */
export function nested(depth: number, inner: Json = 1): Json {
  let value: Json = inner;
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

/** Paths to the object fields and (first 8) array elements of `value`, about 200 at most. */
function paths(value: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  if (out.length > 200) return out;
  if (Array.isArray(value)) {
    value.slice(0, 8).forEach((v, i) => {
      out.push([...prefix, i]);
      paths(v, [...prefix, i], out);
    });
    return out;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push([...prefix, k]);
      paths(v, [...prefix, k], out);
    }
  }
  return out;
}

function setAt(root: Json, path: ReadonlyArray<string | number>, value: Json | undefined): void {
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

export const STRUCTURE_MUTATIONS = [
  'drop-field',
  'retype-field',
  'swap-type',
  'swap-device',
  'extra-field',
  'deep-type',
  'deep-field',
  'wrap-array',
] as const;
export const BYTE_MUTATIONS = ['bit-flips', 'truncate', 'random-bytes', 'splice'] as const;
export type Mutation = (typeof STRUCTURE_MUTATIONS)[number] | (typeof BYTE_MUTATIONS)[number];

/** One mutated payload of `seed` (a valid message), and which mutation made it. */
export function mutate(
  rand: () => number,
  seed: Record<string, unknown>,
  types: readonly string[],
): { kind: Mutation; payload: Buffer } {
  const structural = rand() < 0.6;
  if (structural) {
    const kind = pick(rand, STRUCTURE_MUTATIONS);
    const value = structuredClone(seed) as Json & Record<string, Json>;
    const fields = paths(value);
    const path = pick(rand, fields);
    switch (kind) {
      case 'drop-field':
        setAt(value, path, undefined);
        break;
      case 'retype-field':
        setAt(value, path, hostileValue(rand));
        break;
      case 'swap-type':
        value['type'] = pick(rand, types);
        break;
      case 'swap-device':
        value['deviceId'] = pick(rand, ['good-1', 'someone-else', 'fuzz-1 ', '../x', '+', '#']);
        break;
      case 'extra-field':
        value[`x${Math.floor(rand() * 1000)}`] = hostileValue(rand);
        break;
      case 'deep-type': {
        // Spliced in as text: JSON.stringify of thousands of levels would overflow the stack here.
        const depth = 100 + Math.floor(rand() * 6000);
        value['type'] = '@deep@';
        const text = JSON.stringify(value).replace('"@deep@"', `${'['.repeat(depth)}"hello"${']'.repeat(depth)}`);
        return { kind, payload: Buffer.from(text) };
      }
      case 'deep-field':
        setAt(value, path, nested(20 + Math.floor(rand() * 60)));
        break;
      case 'wrap-array':
        return { kind, payload: Buffer.from(JSON.stringify([value])) };
    }
    return { kind, payload: Buffer.from(JSON.stringify(value)) };
  }
  const kind = pick(rand, BYTE_MUTATIONS);
  const bytes = Buffer.from(JSON.stringify(seed));
  switch (kind) {
    case 'bit-flips': {
      for (let i = 0, n = 1 + Math.floor(rand() * 8); i < n; i += 1) {
        const at = Math.floor(rand() * bytes.length);
        bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(rand() * 8));
      }
      return { kind, payload: bytes };
    }
    case 'truncate':
      return { kind, payload: bytes.subarray(0, Math.floor(rand() * bytes.length)) };
    case 'random-bytes':
      return {
        kind,
        payload: Buffer.from(Array.from({ length: Math.floor(rand() * 4096) }, () => (rand() * 256) | 0)),
      };
    case 'splice': {
      const at = Math.floor(rand() * bytes.length);
      const junk = pick(rand, ['{', '}', '[', ']', '"', '\\', ',', ':', '\u0000', '1e999', 'null']);
      return { kind, payload: Buffer.concat([bytes.subarray(0, at), Buffer.from(junk), bytes.subarray(at)]) };
    }
  }
}
