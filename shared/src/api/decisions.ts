/**
 * The closed loop's decision log as data: what `GET /v1/classes/{name}/decisions` serves, what
 * the store keeps in its JSON columns, and what `edgefleet decisions` prints. The server's
 * control loop (server/src/control/model.ts) builds decisions of exactly these shapes.
 */
import * as z from 'zod';
import { budgetsSchema } from '../budgets.js';
import { classNameSchema, sha256HexSchema } from '../messages/common.js';
import { serverTimeSchema } from './common.js';

/**
 * healthy: nothing breaches. watching: breaching, inside the hysteresis window. waiting: a
 * rollout is in progress. hold: breaching but a guard (cooldown, cap, episode) forbids a change.
 * deploy / replan / search / alert: the loop acts (search: nothing stored fits even with the
 * corrected speed model, so a new model is searched for; the search runs as a job and the loop
 * keeps deciding meanwhile). searched: a search the loop started ended (done, failed, or lost to a
 * server restart), its outcome in the reason. recovered: a breach episode ended.
 */
export const DECISION_KINDS = [
  'healthy',
  'watching',
  'waiting',
  'hold',
  'deploy',
  'replan',
  'search',
  'searched',
  'alert',
  'recovered',
] as const;
export const decisionKindSchema = z.enum(DECISION_KINDS);
export type DecisionKind = z.infer<typeof decisionKindSchema>;

/** Budgets the loop watches, in telemetry terms. */
export const controlBudgetSchema = z.enum(['latencyP95Ms', 'powerW', 'energyPerInferenceMj', 'minAccuracy']);
export type ControlBudget = z.infer<typeof controlBudgetSchema>;

/** The part of a class snapshot a decision is stored with. */
export const snapshotSummarySchema = z.object({
  activeDevices: z.number().int().nonnegative(),
  breachingDevices: z.number().int().nonnegative(),
  throttledDevices: z.number().int().nonnegative(),
  /** Fraction of active devices breaching, per budget that any device breaches. */
  fractions: z.partialRecord(controlBudgetSchema, z.number()),
  currentRecipe: z.string().nullable(),
  currentSha: z.string().nullable(),
  /** Median measured ÷ predicted p95 of the current variant on the devices judged (null: unknown). */
  latencyRatio: z.number().nullable(),
  planId: z.number().int().nullable(),
});

/** What a decision does: roll a variant out, re-plan with a corrected speed model, search for a new model, or alert. */
export const controlActionSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('rollout'),
    id: z.string(),
    deviceClass: classNameSchema,
    artifactSha: sha256HexSchema,
    recipe: z.string(),
    /** null: the whole class; otherwise the cohort's devices. */
    deviceIds: z.array(z.string()).nullable(),
    cohort: z.string().nullable(),
    /** Hash of the desired state; the loop skips an action whose hash it already carried out. */
    desiredHash: z.string(),
  }),
  z.object({
    kind: z.literal('replan'),
    id: z.string(),
    deviceClass: classNameSchema,
    modelSha: sha256HexSchema,
    ratio: z.number(),
    label: z.string(),
    recipes: z.array(z.string()),
  }),
  z.object({
    /** Make a new model: a bounded hardware-aware search for the class with the corrected speed model. */
    kind: z.literal('search'),
    id: z.string(),
    deviceClass: classNameSchema,
    modelSha: sha256HexSchema,
    /** Measured ÷ predicted latency, applied to the class's speed factors during the search. */
    ratio: z.number(),
    label: z.string(),
    timeBudgetMs: z.number().int().positive(),
    maxEvaluations: z.number().int().positive(),
    /** Training per candidate (epochs on that many samples) and of the finalist (epochs on the whole split). */
    epochs: z.number().int().nonnegative(),
    trainSamples: z.number().int().positive(),
    finalEpochs: z.number().int().nonnegative(),
    /**
     * The class budgets the search must meet: latency, power and energy at the policy's fit margin, as the loop judges.
     */
    budgets: budgetsSchema,
  }),
  z.object({
    kind: z.literal('alert'),
    id: z.string(),
    deviceClass: classNameSchema,
    severity: z.enum(['warning', 'critical']),
    message: z.string(),
  }),
]);

/** What carrying out one action led to. */
export const actionOutcomeSchema = z.union([
  z.object({
    action: z.string(),
    status: z.literal('done'),
    rolloutId: z.string().optional(),
    planId: z.number().int().optional(),
    chosen: z.string().nullable().optional(),
  }),
  /** A job was started (a search): its end is a later `searched` decision. */
  z.object({ action: z.string(), status: z.literal('started'), searchId: z.string() }),
  z.object({ action: z.string(), status: z.literal('skipped'), why: z.string() }),
  z.object({ action: z.string(), status: z.literal('error'), error: z.string() }),
]);

/** `?since=&limit=`: the newest `limit` decisions (default 100) at or after `since`, returned oldest first. */
export const decisionsQuerySchema = z.strictObject({
  since: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});

/** One stored control-loop decision (README "Closed loop" explains kinds and actions). */
export const decisionViewSchema = z.object({
  id: z.string(),
  deviceClass: z.string(),
  at: serverTimeSchema,
  kind: decisionKindSchema,
  reason: z.string(),
  budgets: z.array(controlBudgetSchema),
  summary: snapshotSummarySchema,
  actions: z.array(controlActionSchema),
  /** What each action led to; null while nothing was carried out. */
  outcome: z.array(actionOutcomeSchema).nullable(),
});
export type DecisionView = z.infer<typeof decisionViewSchema>;
export const decisionListSchema = z.object({ deviceClass: classNameSchema, decisions: z.array(decisionViewSchema) });
