/** Token-bucket settings: `burst` requests at once, refilled at `ratePerS`. */
export interface RateLimit {
  readonly burst: number;
  readonly ratePerS: number;
}

export interface RateLimiter {
  /** Takes one token for `key`; returns 0 when allowed, else ms until one is available. */
  take(key: string): number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per key (IP address, admin token id), with an injected clock. Idle buckets
 * are forgotten once the map grows, so a stream of new addresses cannot grow it unbounded.
 */
export function createRateLimiter(limit: RateLimit, now: () => number, maxKeys = 10_000): RateLimiter {
  if (!(limit.burst >= 1) || !(limit.ratePerS > 0))
    throw new RangeError(`rate limit needs burst >= 1 and ratePerS > 0, got ${JSON.stringify(limit)}`);
  const buckets = new Map<string, Bucket>();
  const refill = (bucket: Bucket, t: number) => {
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((t - bucket.at) / 1000) * limit.ratePerS);
    bucket.at = t;
  };
  return {
    take(key) {
      const t = now();
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= maxKeys) {
          for (const [k, b] of buckets) {
            refill(b, t);
            if (b.tokens >= limit.burst) buckets.delete(k);
          }
        }
        bucket = { tokens: limit.burst, at: t };
        buckets.set(key, bucket);
      }
      refill(bucket, t);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - bucket.tokens) / limit.ratePerS) * 1000);
    },
  };
}
