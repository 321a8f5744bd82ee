import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { formatPlanTable, renderPlanSvg } from '@edgefleet/server/plan/index';
import {
  chosenCandidate,
  classListSchema,
  EdgefleetError,
  PLAN_OBJECTIVES,
  planObjectiveKindSchema,
  type PlanBuiltSummary,
  type PlanObjectiveInput,
  fleetEventEnvelopeSchema,
  storedPlanSchema,
  stripUndefined,
  type StoredPlan,
} from '@edgefleet/shared';
import type { ApiClient } from '../api-client.js';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { usageError } from '../usage.js';

function svgPath(file: string, cls: string, many: boolean): string {
  if (!many) return file;
  return file.endsWith('.svg') ? `${file.slice(0, -4)}-${cls}.svg` : `${file}-${cls}.svg`;
}

interface PlanFlags extends AdminFlags {
  class?: string;
  allClasses?: boolean;
  recipes?: string;
  correction?: string;
  svg?: string;
  json?: boolean;
  objective?: string;
  accuracyTolerance?: string;
}

/** Writes the SVGs, then prints the plans as JSON or tables, from the returned plans alone. */
async function printPlans(plans: readonly StoredPlan[], flags: PlanFlags, footer: string): Promise<void> {
  if (plans.length === 0)
    throw new EdgefleetError(
      'EF_ERR_CLASS_NOT_FOUND',
      'no classes to plan for; create one with `edgefleet class create NAME --profile rpi4`',
      {},
    );
  if (flags.svg)
    for (const p of plans)
      await writeFile(svgPath(flags.svg, p.plan.deviceClass.name, plans.length > 1), renderPlanSvg(p.plan));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(plans, null, 2)}\n`);
    return;
  }
  const text = plans
    .map(
      (p) =>
        `${formatPlanTable(p.plan)}\n(plan #${p.id}${p.reused ? ', same inputs as before: stored plan reused' : ''})` +
        nextStepOf(p),
    )
    .join('\n\n');
  process.stdout.write(`${text}\n\n${footer}\n`);
}

/** The command that rolls the plan's choice out, when there is one to roll out. */
function nextStepOf(p: StoredPlan): string {
  if (p.plan.outcome !== 'feasible' || chosenCandidate(p.plan) === null) return '';
  return `\nroll it out: edgefleet rollout start --class ${p.plan.deviceClass.name} --plan ${p.id} --golden auto`;
}

/** One progress line: the candidate being built, or what it came to (size, accuracy, host and predicted figures). */
export function progressLine(event: {
  deviceClass: string;
  recipe: string;
  done: number;
  total: number;
  cached: boolean;
  phase?: 'building' | 'built' | undefined;
  result?: PlanBuiltSummary | undefined;
}): string {
  const head = `${event.deviceClass}: ${event.done + 1}/${event.total} ${event.recipe}`;
  const r = event.result;
  if (event.phase !== 'built' || !r) return `${head} (${event.cached ? 'cached' : 'compressing and evaluating'})`;
  if (!r.ok) return `${head} failed: ${r.error ?? 'no evaluation'}`;
  const fig = (x: number | null, unit: string, d = 3) => (x === null ? '-' : `${x.toFixed(d)} ${unit}`);
  return (
    `${head} ${event.cached ? 'cached' : 'built'}: ${r.bytes ?? '-'} B, ${fig(r.accuracyPct, '%', 2)}; ` +
    `measured host p95 ${fig(r.hostP95Ms, 'ms')}; ` +
    (r.predictedP95Ms === null
      ? 'no prediction (the class does not run this precision)'
      : `predicted ${fig(r.predictedP95Ms, 'ms')}, ${fig(r.predictedMj, 'mJ')}`)
  );
}

/** How long to wait, after the server answered, for its last progress event of a class to arrive. */
const PROGRESS_DRAIN_MS = 2_000;

/**
 * Shows the server's `plan.progress` events for this model on stderr while a plan is made.
 * The events travel on another connection than the plan's answer, so `drain(cls)` waits
 * (briefly) for the class's closing event: a fast, cached plan would otherwise answer first.
 */
async function followProgress(
  api: ApiClient,
  model: string,
): Promise<{ drain(deviceClass: string): Promise<void>; stop(): void }> {
  const tty = process.stderr.isTTY === true;
  const closed = new Set<string>();
  const waiting = new Map<string, () => void>();
  const following = await api.follow('/v1/events?types=plan.progress', fleetEventEnvelopeSchema, ({ event }) => {
    if (event.type !== 'plan.progress' || event.model !== model) return;
    if (event.recipe === '') {
      closed.add(event.deviceClass);
      waiting.get(event.deviceClass)?.();
      return;
    }
    const line = progressLine(event);
    // On a terminal the building line is replaced by its result, and each result stays.
    if (!tty) process.stderr.write(`${line}\n`);
    else process.stderr.write(event.phase === 'built' ? `\r${line.padEnd(90)}\n` : `\r${line.padEnd(90)}`);
  });
  return {
    drain: (deviceClass) =>
      closed.has(deviceClass)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, PROGRESS_DRAIN_MS);
            waiting.set(deviceClass, () => {
              clearTimeout(timer);
              resolve();
            });
          }),
    stop() {
      following.stop();
      if (tty) process.stderr.write(`${'\r'.padEnd(91)}\r`);
    },
  };
}

/** Plans through the API: one request per class (`--all-classes` lists them first), progress from the event stream. */
async function plan(
  api: ApiClient,
  model: string,
  flags: PlanFlags,
  recipes: string[] | undefined,
  ratio: number | undefined,
  objective: PlanObjectiveInput | undefined,
) {
  const classes = flags.allClasses
    ? (await api.get('/v1/classes', classListSchema)).classes.map((c) => c.name)
    : [flags.class ?? ''];
  const t0 = performance.now();
  const progress = await followProgress(api, model);
  const plans: StoredPlan[] = [];
  try {
    for (const cls of classes) {
      const stored = await api.post(
        '/v1/plans',
        { model, class: cls, ...stripUndefined({ recipes, correction: ratio, objective }) },
        storedPlanSchema,
      );
      // A stored plan reused makes no progress events.
      if (!stored.reused) await progress.drain(cls);
      plans.push(stored);
    }
  } finally {
    progress.stop();
  }
  const compressions = plans.reduce((n, p) => n + (p.compressions ?? 0), 0);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  await printPlans(plans, flags, `planned in ${seconds} s; ${compressions} compressions this run`);
}

/** `--objective K [--accuracy-tolerance P]` → the request's objective; checked here so a typo is a usage error. */
function objectiveOf(flags: PlanFlags): PlanObjectiveInput | undefined {
  if (flags.objective === undefined) {
    if (flags.accuracyTolerance !== undefined) throw usageError('--accuracy-tolerance goes with --objective KIND');
    return undefined;
  }
  const kind = planObjectiveKindSchema.safeParse(flags.objective);
  if (!kind.success)
    throw usageError(`--objective must be one of ${PLAN_OBJECTIVES.join(', ')}, got "${flags.objective}"`);
  if (flags.accuracyTolerance === undefined) return { kind: kind.data };
  const tol = Number(flags.accuracyTolerance);
  if (!(tol >= 0 && tol <= 100))
    throw usageError(`--accuracy-tolerance must be 0–100 points, got "${flags.accuracyTolerance}"`);
  return { kind: kind.data, accuracyTolerancePts: tol };
}

/** `edgefleet plan MODEL --class NAME | --all-classes`: choose a variant per class within its budgets. */
export function planCommand(): Command {
  return addAdminFlags(new Command('plan'))
    .description(
      "Build (or reuse) candidate variants of a stored model, predict each class's latency and power, and choose " +
        'the variant that best meets the objective (--objective) within the class budgets (the server plans; see ' +
        '--data-dir and --api). ' +
        'Predicted figures are host measurements x modelled class factors.',
    )
    .argument('<model>', 'model name, sha256 or sha256 prefix (see `edgefleet model list`)')
    .option('--class <name>', 'plan for one class')
    .option('--all-classes', 'plan for every configured class')
    .option(
      '--recipes <list>',
      'comma-separated candidate recipes (default fp16,int8-dynamic,int8-static,int8-weights,int4-weights; fp32 ' +
        'always included)',
    )
    .option(
      '--correction <ratio>',
      "multiply every speed factor by this measured/predicted latency ratio (the closed loop's correction, by hand)",
    )
    .option(
      '--svg <file>',
      'also draw accuracy vs predicted latency with budget lines (one file per class with --all-classes)',
    )
    .option(
      '--objective <kind>',
      `what to optimise within the budgets: ${PLAN_OBJECTIVES.join('|')} (default: the class's objective, else ` +
        'energy: lowest predicted energy per inference, then latency, then size)',
    )
    .option(
      '--accuracy-tolerance <pts>',
      'with --objective: variants this many points below the most accurate still compete (default 0.5)',
    )
    .option('--json', 'print the plans (with candidates and Pareto front) as JSON')
    .action(async (model: string, flags: PlanFlags) => {
      if (!flags.class === !flags.allClasses) throw usageError('give exactly one of --class NAME or --all-classes');
      const ratio = flags.correction === undefined ? undefined : Number(flags.correction);
      if (ratio !== undefined && !(ratio > 0))
        throw usageError(`--correction must be a number greater than 0, got "${flags.correction}"`);
      const recipes = flags.recipes
        ? flags.recipes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      const objective = objectiveOf(flags);
      await withFleet(flags, { command: 'edgefleet plan', writes: true }, (api) =>
        plan(api, model, flags, recipes, ratio, objective),
      );
    });
}
