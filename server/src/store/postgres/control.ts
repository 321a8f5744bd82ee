/** The control loop's decisions and per-class memory on Postgres (migration 40); rows map as on SQLite. */
import { controlMemorySchema } from '../../control/model.js';
import type { ControlRepository } from '../control.js';
import { decodeJson } from '../decode.js';
import { type RawDecision, type RawState, toDecision } from '../sqlite/control.js';
import type { PgDb } from './db.js';

export function createPgControlRepository(db: PgDb): ControlRepository {
  return Object.freeze({
    record: (decision, state) =>
      db.tx(async (sql) => {
        if (decision)
          await sql.run(
            `INSERT INTO control_decisions (id, class, at, kind, reason, budgets, summary, actions)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
            [
              decision.id,
              decision.deviceClass,
              decision.at,
              decision.kind,
              decision.reason,
              JSON.stringify(decision.budgets),
              JSON.stringify(decision.summary),
              JSON.stringify(decision.actions),
            ],
          );
        await sql.run(
          `INSERT INTO control_state (class, memory, desired_hash, updated_at) VALUES ($1, $2, NULL, $3)
          ON CONFLICT (class) DO UPDATE SET memory = excluded.memory, updated_at = excluded.updated_at`,
          [state.deviceClass, JSON.stringify(state.memory), state.updatedAt],
        );
      }),
    setOutcome: async (id, outcome) => {
      await db.run('UPDATE control_decisions SET outcome = $1 WHERE id = $2', [JSON.stringify(outcome), id]);
    },
    setDesiredHash: async (cls, hash, at) => {
      await db.run(
        `INSERT INTO control_state (class, memory, desired_hash, updated_at) VALUES ($1, '{}', $2, $3)
        ON CONFLICT (class) DO UPDATE SET desired_hash = excluded.desired_hash, updated_at = excluded.updated_at`,
        [cls, hash, at],
      );
    },
    state: async (cls) => {
      const r = await db.one<RawState>('SELECT * FROM control_state WHERE class = $1', [cls]);
      if (!r) return null;
      // A row made by setDesiredHash before any decision holds `{}`: the loop starts from empty memory.
      const memory =
        r.memory === '{}'
          ? null
          : decodeJson(controlMemorySchema, r.memory, { table: 'control_state', column: 'memory', key: r.class });
      return { deviceClass: r.class, memory, desiredHash: r.desired_hash, updatedAt: r.updated_at };
    },
    decisions: async (f = {}) =>
      (
        await db.rows<RawDecision>(
          `SELECT * FROM (SELECT * FROM control_decisions
            WHERE ($1::text IS NULL OR class = $1) AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3) newest
          ORDER BY at, id`,
          [f.deviceClass ?? null, f.since ?? 0, f.limit ?? 1000],
        )
      ).map(toDecision),
    countByKind: async () =>
      Object.fromEntries(
        (
          await db.rows<{ kind: string; n: number }>(
            'SELECT kind, COUNT(*) AS n FROM control_decisions GROUP BY kind ORDER BY kind',
          )
        ).map((r) => [r.kind, r.n]),
      ),
  } satisfies ControlRepository);
}
