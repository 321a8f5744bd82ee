/** The control loop's decisions and per-class memory on SQLite (migration 40). */
import {
  actionOutcomeSchema,
  controlActionSchema,
  controlBudgetSchema,
  decisionKindSchema,
  snapshotSummarySchema,
} from '@edgefleet/shared';
import { z } from 'zod';
import { controlMemorySchema } from '../../control/model.js';
import type { ControlRepository, DecisionRow } from '../control.js';
import { decodeJson, decodeNullableJson, decodeValue } from '../decode.js';
import type { Db } from './open.js';

export interface RawDecision {
  id: string;
  class: string;
  at: number;
  kind: string;
  reason: string;
  budgets: string;
  summary: string;
  actions: string;
  outcome: string | null;
}
export interface RawState {
  class: string;
  memory: string;
  desired_hash: string | null;
  updated_at: number;
}

const budgetsListSchema = z.array(controlBudgetSchema);
const actionsSchema = z.array(controlActionSchema);
const outcomesSchema = z.array(actionOutcomeSchema);

export function toDecision(r: RawDecision): DecisionRow {
  const at = (column: string) => ({ table: 'control_decisions', column, key: r.id });
  return {
    id: r.id,
    deviceClass: r.class,
    at: r.at,
    kind: decodeValue(decisionKindSchema, r.kind, at('kind')),
    reason: r.reason,
    budgets: decodeJson(budgetsListSchema, r.budgets, at('budgets')),
    summary: decodeJson(snapshotSummarySchema, r.summary, at('summary')),
    actions: decodeJson(actionsSchema, r.actions, at('actions')),
    outcome: decodeNullableJson(outcomesSchema, r.outcome, at('outcome')),
  };
}

export function createSqliteControlRepository(db: Db): ControlRepository {
  const s = {
    insertDecision: db.prepare(`INSERT OR IGNORE INTO control_decisions
      (id, class, at, kind, reason, budgets, summary, actions)
      VALUES (@id, @class, @at, @kind, @reason, @budgets, @summary, @actions)`),
    upsertMemory: db.prepare(`INSERT INTO control_state (class, memory, desired_hash, updated_at)
      VALUES (@class, @memory, NULL, @updated_at)
      ON CONFLICT(class) DO UPDATE SET memory = excluded.memory, updated_at = excluded.updated_at`),
    setOutcome: db.prepare('UPDATE control_decisions SET outcome = ? WHERE id = ?'),
    setDesired: db.prepare(`INSERT INTO control_state (class, memory, desired_hash, updated_at) VALUES (?, '{}', ?, ?)
      ON CONFLICT(class) DO UPDATE SET desired_hash = excluded.desired_hash, updated_at = excluded.updated_at`),
    state: db.prepare('SELECT * FROM control_state WHERE class = ?'),
    counts: db.prepare('SELECT kind, COUNT(*) AS n FROM control_decisions GROUP BY kind ORDER BY kind'),
    decisions: db.prepare(`SELECT * FROM (SELECT * FROM control_decisions
      WHERE (@class IS NULL OR class = @class) AND at >= @since ORDER BY at DESC, id DESC LIMIT @limit)
      ORDER BY at, id`),
  };
  const record = db.transaction(
    (decision: Parameters<ControlRepository['record']>[0], state: Parameters<ControlRepository['record']>[1]) => {
      if (decision)
        s.insertDecision.run({
          id: decision.id,
          class: decision.deviceClass,
          at: decision.at,
          kind: decision.kind,
          reason: decision.reason,
          budgets: JSON.stringify(decision.budgets),
          summary: JSON.stringify(decision.summary),
          actions: JSON.stringify(decision.actions),
        });
      s.upsertMemory.run({
        class: state.deviceClass,
        memory: JSON.stringify(state.memory),
        updated_at: state.updatedAt,
      });
    },
  );
  return Object.freeze({
    record: async (decision, state) => {
      record(decision, state);
    },
    setOutcome: async (id, outcome) => {
      s.setOutcome.run(JSON.stringify(outcome), id);
    },
    setDesiredHash: async (cls, hash, at) => {
      s.setDesired.run(cls, hash, at);
    },
    state: async (cls) => {
      const r = s.state.get(cls) as RawState | undefined;
      if (!r) return null;
      // A row made by setDesiredHash before any decision holds `{}`: the loop starts from empty memory.
      const memory =
        r.memory === '{}'
          ? null
          : decodeJson(controlMemorySchema, r.memory, {
              table: 'control_state',
              column: 'memory',
              key: r.class,
            });
      return { deviceClass: r.class, memory, desiredHash: r.desired_hash, updatedAt: r.updated_at };
    },
    decisions: async (f = {}) =>
      (
        s.decisions.all({ class: f.deviceClass ?? null, since: f.since ?? 0, limit: f.limit ?? 1000 }) as RawDecision[]
      ).map(toDecision),
    countByKind: async () =>
      Object.fromEntries((s.counts.all() as Array<{ kind: string; n: number }>).map((r) => [r.kind, r.n])),
  } satisfies ControlRepository);
}
