/**
 * The one place that talks to `pg`: a pool, how values come back, and transactions. The
 * repositories in this folder see only {@link Sql} (a query runner) and {@link PgDb.tx}.
 *
 * Values: BIGINT columns (timestamps in ms, byte counts, seqs) come back as JS numbers, not the
 * strings `pg` returns by default; every such value edgefleet stores is below 2^53 (telemetry
 * counters saturate there), and one that is not fails loudly instead of losing digits.
 */
import { EdgefleetError } from '@edgefleet/shared';
import pg from 'pg';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

function parseSafeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new EdgefleetError(
      'EF_ERR_STORE_DECODE',
      `a BIGINT value ${text} does not fit a JavaScript number; the row was written by something other than edgefleet`,
      { value: text },
    );
  return value;
}

/** Type parsers for this pool only: the global `pg.types` stay untouched for other users of `pg` in the process. */
const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return parseSafeInteger;
    // SUM() over BIGINT is NUMERIC; edgefleet's sums are counts below 2^53 as well.
    if (oid === NUMERIC_OID) return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Runs statements: the pool outside a transaction, one client inside. */
export interface Sql {
  rows<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** The first row, or null. */
  one<R>(text: string, params?: readonly unknown[]): Promise<R | null>;
  /** Rows affected. */
  run(text: string, params?: readonly unknown[]): Promise<number>;
}

export interface PgDb extends Sql {
  /**
   * Runs `body` in one transaction on one client. A serialization failure or deadlock (two
   * replicas touching the same rows in another order) rolls back and runs `body` again, up to
   * a few times, so `body` must only touch the database.
   */
  tx<T>(body: (sql: Sql) => Promise<T>): Promise<T>;
  /** A dedicated client for session-scoped work (advisory locks); release it when done. */
  connect(): Promise<pg.PoolClient>;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

function runner(q: pg.Pool | pg.PoolClient): Sql {
  return {
    rows: async <R>(text: string, params: readonly unknown[] = []) =>
      (await q.query(text, params as unknown[])).rows as R[],
    one: async <R>(text: string, params: readonly unknown[] = []) =>
      ((await q.query(text, params as unknown[])).rows[0] as R | undefined) ?? null,
    run: async (text: string, params: readonly unknown[] = []) =>
      (await q.query(text, params as unknown[])).rowCount ?? 0,
  };
}

/** SQLSTATEs worth running a transaction again for: serialization_failure, deadlock_detected. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

function sqlState(err: unknown): string | null {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : null;
}

export interface PgDbOptions {
  readonly connectionString: string;
  /** Pool size; default 10. */
  readonly max?: number;
  /** Called with errors of idle clients (a server restart), which would otherwise crash the process. */
  readonly onIdleError?: (err: Error) => void;
}

export function createPgDb(options: PgDbOptions): PgDb {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    types: typeParsers,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  async function tx<T>(body: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await body(runner(client));
        await client.query('COMMIT');
        return result;
      } catch (err: unknown) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          // The connection itself failed: drop it from the pool instead of handing it out again.
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        });
        if (!RETRYABLE.has(sqlState(err) ?? '') || attempt >= MAX_ATTEMPTS) throw err;
      } finally {
        client.release(broken);
      }
      // Back off a little, with jitter, so the two transactions do not collide again at once.
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 10));
    }
  }
  let closed: Promise<void> | null = null;
  return {
    ...runner(pool),
    tx,
    connect: () => pool.connect(),
    pool,
    close: () => (closed ??= pool.end()),
  };
}
