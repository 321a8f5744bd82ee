/**
 * A pre-parse guard for untrusted JSON [EF-PROTO 1]. `JSON.parse` copes with deep nesting,
 * but what runs on the parsed value afterwards may not: `JSON.stringify`, schema walks and
 * error formatting recurse, and a `type` nested 5,000 arrays deep overflowed the stack in
 * `decodeMessage`. Every edgefleet message is a few levels deep, so nesting is measured on
 * the bytes, before anything is parsed, and anything deeper than the limit is refused.
 */

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Deepest object/array nesting of a JSON text, counting only brackets outside strings, or
 * `limit + 1` as soon as it is passed (the scan stops there, so hostile input costs at most
 * one pass over its bytes). Malformed text is measured as far as it goes; JSON.parse judges it.
 */
export function jsonNestingDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i += 1) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i += 1;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && depth > 0) depth -= 1;
  }
  return deepest;
}

/** A short, safe description of an untrusted value for a rejection message: never recurses, never throws. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}
