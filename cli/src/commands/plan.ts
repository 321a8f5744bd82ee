import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { EdgefleetError, stripUndefined, type StoredPlan } from '@edgefleet/shared';
import { loadServerConfig } from '@edgefleet/server';
import { openStore } from '@edgefleet/server/store/sqlite/open';
import { createPlanner, formatPlanTable, renderPlanSvg, type PlanProgress } from '@edgefleet/server/plan/index';
import { addApiFlags, apiClientFromFlags } from '../api-client.js';

function svgPath(file: string, cls: string, many: boolean): string {
  if (!many) return file;
  return file.endsWith('.svg') ? `${file.slice(0, -4)}-${cls}.svg` : `${file}-${cls}.svg`;
}

interface PlanFlags {
  class?: string;
  allClasses?: boolean;
  recipes?: string;
  correction?: string;
  svg?: string;
  dataDir?: string;
  json?: boolean;
  api?: string;
  token?: string;
}

/** Writes the SVGs, then prints the plans as JSON or tables; the same for both modes, from the stored plans alone. */
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
        `${formatPlanTable(p.plan)}\n(plan #${p.id}${p.reused ? ', same inputs as before: stored plan reused' : ''})`,
    )
    .join('\n\n');
  process.stdout.write(`${text}\n\n${footer}\n`);
}

/** Plans on the server (POST /v1/plans, one class per request; --all-classes lists the classes first). */
async function planViaApi(model: string, recipes: string[] | undefined, flags: PlanFlags): Promise<void> {
  if (flags.correction !== undefined)
    throw new EdgefleetError(
      'EF_ERR_CLASS_INVALID',
      '--correction is not accepted over the admin API; change the class speed model with `edgefleet class update NAME --speed PRECISION=FACTOR --api …`, or plan on the server host without --api',
      {},
    );
  const api = apiClientFromFlags(flags);
  const classes = flags.allClasses
    ? (await api.get<{ classes: { name: string }[] }>('/v1/classes')).classes.map((c) => c.name)
    : [flags.class ?? ''];
  const t0 = performance.now();
  const plans: StoredPlan[] = [];
  for (const [i, cls] of classes.entries()) {
    process.stderr.write(
      `${cls}: planning on the server (${i + 1}/${classes.length}); a first plan compresses and evaluates every candidate\n`,
    );
    plans.push(await api.post<StoredPlan>('/v1/plans', { model, class: cls, ...(recipes ? { recipes } : {}) }));
  }
  await printPlans(plans, flags, `planned in ${((performance.now() - t0) / 1000).toFixed(1)} s on the server`);
}

async function planLocal(
  model: string,
  recipes: string[] | undefined,
  ratio: number | undefined,
  flags: PlanFlags,
): Promise<void> {
  const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
  const store = openStore({ dataDir: config.dataDir });
  const tty = process.stderr.isTTY === true;
  const onProgress = (p: PlanProgress): void => {
    if (p.recipe)
      process.stderr.write(
        `${tty ? '\r' : ''}${p.deviceClass}: ${p.done + 1}/${p.total} ${p.recipe}${p.cached ? ' (cached)' : ' (compressing and evaluating)'}`.padEnd(
          tty ? 90 : 0,
        ) + (tty ? '' : '\n'),
      );
  };
  try {
    const planner = createPlanner({ store, dataDir: config.dataDir });
    const req = {
      model,
      onProgress,
      ...stripUndefined({ recipes }),
      ...(ratio === undefined ? {} : { speedModelOverride: { ratio, label: 'cli-correction' } }),
    };
    const t0 = performance.now();
    const plans: StoredPlan[] = flags.allClasses
      ? await planner.planAll(req)
      : [await planner.plan({ ...req, deviceClass: flags.class ?? '' })];
    if (tty) process.stderr.write(`${'\r'.padEnd(91)}\r`);
    await printPlans(
      plans,
      flags,
      `planned in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${planner.variants.stats.compressions} compressions this run`,
    );
  } finally {
    store.close();
  }
}

/** `edgefleet plan MODEL --class NAME | --all-classes`: choose a variant per class within its budgets. */
export function planCommand(): Command {
  return addApiFlags(new Command('plan'))
    .description(
      "Build (or reuse) candidate variants of a stored model, predict each class's latency and power, and choose the most accurate variant within the class budgets; in the data directory, or on the server with --api URL --token T. Predicted figures are host measurements x modelled class factors.",
    )
    .argument('<model>', 'model name, sha256 or sha256 prefix (see `edgefleet model list`)')
    .option('--class <name>', 'plan for one class')
    .option('--all-classes', 'plan for every configured class')
    .option(
      '--recipes <list>',
      'comma-separated candidate recipes (default fp16,int8-dynamic,int8-static,int8-weights,int4-weights; fp32 always included)',
    )
    .option(
      '--correction <ratio>',
      'multiply every speed factor by this measured/predicted latency ratio (closed-loop correction; not with --api)',
    )
    .option(
      '--svg <file>',
      'also draw accuracy vs predicted latency with budget lines (one file per class with --all-classes)',
    )
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet); ignored with --api')
    .option('--json', 'print the plans (with candidates and Pareto front) as JSON')
    .action(async (model: string, flags: PlanFlags) => {
      if (!flags.class === !flags.allClasses)
        throw new EdgefleetError('EF_ERR_CLASS_INVALID', 'give exactly one of --class NAME or --all-classes', {});
      const ratio = flags.correction === undefined ? undefined : Number(flags.correction);
      if (ratio !== undefined && !(ratio > 0))
        throw new EdgefleetError(
          'EF_ERR_CLASS_INVALID',
          `--correction must be a number greater than 0, got "${flags.correction}"`,
          {},
        );
      const recipes = flags.recipes
        ? flags.recipes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      if (flags.api !== undefined) return planViaApi(model, recipes, flags);
      return planLocal(model, recipes, ratio, flags);
    });
}
