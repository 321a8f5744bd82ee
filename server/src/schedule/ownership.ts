/**
 * Who does the work that must happen once across server replicas (issue 20): the control
 * loop's tick per class, the rollout state machines, the presence sweep, telemetry retention,
 * the broker token sweep. A task asks `claim(key)` before each run and runs only when it is
 * true.
 *
 * On Postgres a key is a session-level advisory lock (`pg_try_advisory_lock`) held on one
 * dedicated connection for as long as this process lives: the first replica to ask gets it and
 * keeps it; the others' claims fail until that session ends. A replica killed with -9 closes
 * its socket, Postgres ends the session and frees its locks, and the next claim elsewhere wins:
 * ownership moves within one task interval, with no lease timing of ours. A replica that loses
 * its connection loses every key at once (the client's `error`/`end` clears `held`) and asks
 * again on a new connection. Without Postgres (SQLite, one process) every claim is true.
 *
 * Fencing: taking a key raises its token in `ownership_fences` (migration 41), and the rollout
 * state machines save with this process's token (`fence`), refused once a later tenure exists.
 * A replica whose session ended while it was paused mid-evaluation so cannot overwrite what
 * the new owner wrote in the meantime.
 */
import pg from 'pg';
import type { Logger } from '../log/logger.js';
import type { OwnershipFence } from '../store/rollouts.js';

export interface Ownership {
  readonly kind: 'local' | 'postgres';
  /** True when this process holds `key` now, taking it when nobody holds it. A store error answers false. */
  claim(key: string): Promise<boolean>;
  /** Gives a key up (a replica that stops doing some work), so another replica may take it. */
  release(key: string): Promise<void>;
  /** Keys this process holds, sorted. */
  held(): string[];
  /**
   * The fencing token of this process's latest tenure of `key` (raised in the store each time a
   * replica takes the key), or null when it never held it (and always with one process). It
   * stays after the key is lost: a write still carrying it is refused once another replica took
   * the key (`RolloutRepository.save`), which is the point.
   */
  fence(key: string): OwnershipFence | null;
  /** Releases every key (closes the lock session). */
  close(): Promise<void>;
}

/** One process, one owner: every claim succeeds. */
export function createLocalOwnership(): Ownership {
  const held = new Set<string>();
  return {
    kind: 'local',
    claim: async (key) => {
      held.add(key);
      return true;
    },
    release: async (key) => {
      held.delete(key);
    },
    held: () => [...held].sort(),
    fence: () => null,
    close: async () => held.clear(),
  };
}

/** Namespace of ownership locks (first key of the two-int advisory lock): "EFO". */
const OWNERSHIP_LOCK_SPACE = 0x45_46_4f;

export interface PgOwnershipOptions {
  readonly connectionString: string;
  readonly logger: Logger;
}

export function createPgOwnership(options: PgOwnershipOptions): Ownership {
  const log = options.logger.child({ component: 'ownership' });
  const held = new Set<string>();
  const tokens = new Map<string, number>();
  let session: Promise<pg.Client> | null = null;
  let closed = false;
  // Claims from different tasks come at once; one client runs one query at a time (pg 9 will refuse more).
  let turn: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const next = turn.then(work, work);
    turn = next.catch(() => undefined);
    return next;
  };

  function lost(client: pg.Client, why: string): void {
    if (held.size > 0) log.warn({ keys: [...held], why }, 'lock session lost: this replica gives up its work');
    held.clear();
    session = null;
    client.end().catch(() => undefined);
  }

  function connect(): Promise<pg.Client> {
    session ??= (async () => {
      const client = new pg.Client({ connectionString: options.connectionString, keepAlive: true });
      client.on('error', (err) => lost(client, err.message));
      client.on('end', () => lost(client, 'connection ended'));
      try {
        await client.connect();
        await client.query("SET application_name = 'edgefleet-ownership'");
      } catch (err: unknown) {
        session = null;
        throw err;
      }
      return client;
    })();
    return session;
  }

  /**
   * A new tenure: raises the key's token, so writes of an earlier owner's tenure are refused.
   * When that fails the lock is given back: holding a key without a token would write unfenced.
   */
  async function raiseToken(client: pg.Client, key: string): Promise<number> {
    try {
      const t = await client.query<{ token: string }>(
        `INSERT INTO ownership_fences (key, token) VALUES ($1, 1)
        ON CONFLICT (key) DO UPDATE SET token = ownership_fences.token + 1 RETURNING token`,
        [key],
      );
      return Number(t.rows[0]?.token);
    } catch (err: unknown) {
      await client
        .query('SELECT pg_advisory_unlock($1, hashtext($2))', [OWNERSHIP_LOCK_SPACE, key])
        .catch(() => undefined);
      throw err;
    }
  }

  async function claimNow(key: string): Promise<boolean> {
    if (closed) return false;
    try {
      const client = await connect();
      if (held.has(key)) {
        // Still ours only while the session lives: one round trip proves it before the work runs.
        await client.query('SELECT 1');
        return held.has(key);
      }
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
        OWNERSHIP_LOCK_SPACE,
        key,
      ]);
      if (r.rows[0]?.ok === true) {
        tokens.set(key, await raiseToken(client, key));
        held.add(key);
        log.info({ key, token: tokens.get(key) }, 'took ownership');
        return true;
      }
      return false;
    } catch (err: unknown) {
      log.warn({ key, err }, 'ownership claim failed; not running the work this time');
      return false;
    }
  }

  return {
    kind: 'postgres',
    claim: (key) => oneAtATime(() => claimNow(key)),
    release: (key) =>
      oneAtATime(async () => {
        if (!held.delete(key) || session === null) return;
        const client = await session;
        await client
          .query('SELECT pg_advisory_unlock($1, hashtext($2))', [OWNERSHIP_LOCK_SPACE, key])
          .catch(() => undefined);
      }),
    held: () => [...held].sort(),
    fence: (key) => {
      const token = tokens.get(key);
      return token === undefined ? null : { key, token };
    },
    async close() {
      closed = true;
      held.clear();
      const current = session;
      session = null;
      if (current) await (await current.catch(() => null))?.end().catch(() => undefined);
    },
  };
}
