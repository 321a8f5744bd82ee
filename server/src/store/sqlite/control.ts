/**
 * Rows of the control loop's tables (migration 40): stored decisions and per-class memory.
 * JSON columns come back as `unknown`; server/src/control gives them their types, so this
 * module stays free of control-loop types.
 */
import type { Db } from './open.js';

export interface DecisionRow {
  readonly id: string;
  readonly deviceClass: string;
  readonly at: number;
  readonly kind: string;
  readonly reason: string;
  readonly budgets: unknown;
  readonly summary: unknown;
  readonly actions: unknown;
  readonly outcome: unknown;
}

export interface ControlStateRow {
  readonly deviceClass: string;
  readonly memory: unknown;
  readonly desiredHash: string | null;
  readonly updatedAt: number;
}

export interface ControlTables {
  /** Stores a decision and the class's memory in one transaction; a decision id stored before is ignored. */
  record(decision: Omit<DecisionRow, 'outcome'> | null, state: ControlStateRow): void;
  setOutcome(decisionId: string, outcome: unknown): void;
  setDesiredHash(deviceClass: string, hash: string, at: number): void;
  state(deviceClass: string): ControlStateRow | null;
  /** Decisions of a class (all classes when omitted), oldest first. */
  decisions(filter?: { deviceClass?: string; since?: number; limit?: number }): DecisionRow[];
}

interface RawDecision {
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

const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

export function createControlTables(db: Db): ControlTables {
  const insertDecision =
    db.prepare(`INSERT OR IGNORE INTO control_decisions (id, class, at, kind, reason, budgets, summary, actions)
    VALUES (@id, @class, @at, @kind, @reason, @budgets, @summary, @actions)`);
  const upsertState =
    db.prepare(`INSERT INTO control_state (class, memory, desired_hash, updated_at) VALUES (@class, @memory, @desired_hash, @updated_at)
    ON CONFLICT(class) DO UPDATE SET memory = excluded.memory, updated_at = excluded.updated_at`);
  const record = db.transaction((decision: Omit<DecisionRow, 'outcome'> | null, state: ControlStateRow) => {
    if (decision) {
      insertDecision.run({
        id: decision.id,
        class: decision.deviceClass,
        at: decision.at,
        kind: decision.kind,
        reason: decision.reason,
        budgets: JSON.stringify(decision.budgets),
        summary: JSON.stringify(decision.summary),
        actions: JSON.stringify(decision.actions),
      });
    }
    upsertState.run({
      class: state.deviceClass,
      memory: JSON.stringify(state.memory),
      desired_hash: state.desiredHash,
      updated_at: state.updatedAt,
    });
  });
  return {
    record: (decision, state) => {
      record(decision, state);
    },
    setOutcome: (id, outcome) => {
      db.prepare('UPDATE control_decisions SET outcome = ? WHERE id = ?').run(JSON.stringify(outcome), id);
    },
    setDesiredHash: (cls, hash, at) => {
      db.prepare(`INSERT INTO control_state (class, memory, desired_hash, updated_at) VALUES (?, '{}', ?, ?)
        ON CONFLICT(class) DO UPDATE SET desired_hash = excluded.desired_hash, updated_at = excluded.updated_at`).run(
        cls,
        hash,
        at,
      );
    },
    state: (cls) => {
      const r = db.prepare('SELECT * FROM control_state WHERE class = ?').get(cls) as
        | { class: string; memory: string; desired_hash: string | null; updated_at: number }
        | undefined;
      return r
        ? { deviceClass: r.class, memory: parse(r.memory), desiredHash: r.desired_hash, updatedAt: r.updated_at }
        : null;
    },
    decisions: (f = {}) =>
      (
        db
          .prepare(`SELECT * FROM (SELECT * FROM control_decisions WHERE (@class IS NULL OR class = @class) AND at >= @since
      ORDER BY at DESC, id DESC LIMIT @limit) ORDER BY at, id`)
          .all({ class: f.deviceClass ?? null, since: f.since ?? 0, limit: f.limit ?? 1000 }) as RawDecision[]
      ).map((r) => ({
        id: r.id,
        deviceClass: r.class,
        at: r.at,
        kind: r.kind,
        reason: r.reason,
        budgets: parse(r.budgets),
        summary: parse(r.summary),
        actions: parse(r.actions),
        outcome: parse(r.outcome),
      })),
  };
}
