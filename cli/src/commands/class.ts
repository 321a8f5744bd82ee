import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { BUILTIN_CLASS_PROFILES } from '@edgefleet/server/plan/index';
import {
  asError,
  classDeletedSchema,
  classListSchema,
  describeObjective,
  deviceClassSchema,
  PLAN_OBJECTIVES,
  planObjectiveKindSchema,
  type DeviceClass,
  type PlanObjectiveKind,
} from '@edgefleet/shared';
import type { ApiClient } from '../api-client.js';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { usageError } from '../usage.js';
import { formatTable } from './devices.js';

/**
 * `--budget maxP95LatencyMs=20` (repeatable) → `{maxP95LatencyMs: 20}`; validation of names and ranges is the schema's.
 */
export function parseAssignments(values: readonly string[], flag: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([A-Za-z0-9]+)=(-?[0-9.eE+-]+)$/.exec(v);
    if (!m?.[1] || !m[2] || !Number.isFinite(Number(m[2])))
      throw usageError(
        `${flag} "${v}" is not NAME=NUMBER; e.g. ${flag} ${flag === '--speed' ? 'int8=3.5' : 'maxP95LatencyMs=20'}`,
        { value: v },
      );
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err: unknown) {
    throw usageError(`--file ${path}: cannot read it as JSON (${asError(err).message})`, { path });
  }
}

/** The class routes of the admin API, typed by their schemas. */
function classesOf(api: ApiClient) {
  const path = (name: string): string => `/v1/classes/${encodeURIComponent(name)}`;
  return {
    create: (body: { class: unknown } | { profile: string; name: string; patch?: unknown }) =>
      api.post('/v1/classes', body, deviceClassSchema),
    list: () => api.get('/v1/classes', classListSchema),
    get: (name: string) => api.get(path(name), deviceClassSchema),
    update: (name: string, patch: unknown) => api.patch(path(name), patch, deviceClassSchema),
    remove: (name: string) => api.delete(path(name), classDeletedSchema),
  };
}
type ClassBackend = ReturnType<typeof classesOf>;

/** Runs `fn` against the classes of the fleet the flags name. */
function withClasses<T>(flags: AdminFlags, command: string, writes: boolean, fn: (c: ClassBackend) => Promise<T>) {
  return withFleet(flags, { command: `edgefleet class ${command}`, writes }, (api) => fn(classesOf(api)));
}

const budgetText = (c: DeviceClass): string =>
  Object.entries(c.budgets)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';

function printClass(c: DeviceClass, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
    return;
  }
  const lines = [
    `class ${c.name} (version ${c.version}): ${c.description}`,
    `  precisions: ${c.capabilities.precisions.join(', ')}; memory ${c.capabilities.memoryBytes} B; storage ` +
      `${c.capabilities.storageBytes} B; ${c.capabilities.cores} cores; ${c.capabilities.processor}`,
    `  speed model ${c.speedModel.version} (${c.speedModel.status}; device latency / host latency): ${Object.entries(
      c.speedModel.factors,
    )
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`,
    `  power model (${c.powerModel.label}): idle ${c.powerModel.idleW} W, active ${Object.entries(c.powerModel.activeW)
      .map(([k, v]) => `${k} ${v} W`)
      .join(', ')}, workload ${c.powerModel.workloadHz} Hz`,
    `  budgets: ${budgetText(c)}`,
    `  plan objective: ${objectiveText(c)}`,
    ...Object.entries(c.sources).map(([k, v]) => `  source ${k}: ${v}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** `--objective KIND` of class create/update; `default` (update only) clears the class's own. */
function parseObjective(value: string): PlanObjectiveKind | 'default' {
  if (value === 'default') return value;
  const kind = planObjectiveKindSchema.safeParse(value);
  if (!kind.success) throw new InvalidArgumentError(`one of ${PLAN_OBJECTIVES.join(', ')}, or default`);
  return kind.data;
}

const objectiveText = (c: DeviceClass): string =>
  c.objective
    ? `${c.objective.kind} (${describeObjective(c.objective)})`
    : `default: energy (${describeObjective({ kind: 'energy', accuracyTolerancePts: 0.5 })})`;
const PROFILES = [...BUILTIN_CLASS_PROFILES.keys()].join(', ');

/** `edgefleet class create|list|show|update|delete`, through the admin API. */
export function classCommand(): Command {
  const cmd = new Command('class').description(
    'Manage device classes (capabilities, speed and power models, budgets) through the admin API (see --data-dir ' +
      `and --api). Built-in profiles: ${PROFILES}.`,
  );
  addAdminFlags(cmd.command('create'))
    .description(
      'Create a class from a built-in profile (--profile) or a JSON document (--file), optionally changing budgets.',
    )
    .argument('<name>', 'class name (letters, digits, _ . -)')
    .option('--profile <profile>', `start from a built-in profile: ${PROFILES}`)
    .option('--file <file>', 'a whole class document as JSON (see shared/src/budgets.ts)')
    .option('--budget <NAME=VALUE>', 'set a budget, e.g. maxP95LatencyMs=20 (repeatable)', collect, [] as string[])
    .option(
      '--objective <kind>',
      `what plans for this class optimise within its budgets: ${PLAN_OBJECTIVES.join('|')} (default energy)`,
      parseObjective,
    )
    .option('--json', 'print the created class as JSON')
    .action(
      async (
        name: string,
        flags: AdminFlags & {
          profile?: string;
          file?: string;
          budget: string[];
          objective?: PlanObjectiveKind | 'default';
          json?: boolean;
        },
      ) => {
        const budgets = parseAssignments(flags.budget, '--budget');
        if (!flags.profile && !flags.file) throw usageError(`give --profile (${PROFILES}) or --file CLASS.json`);
        const changed = Object.keys(budgets).length > 0;
        const objective =
          flags.objective === undefined || flags.objective === 'default'
            ? {}
            : { objective: { kind: flags.objective } };
        let body: Parameters<ClassBackend['create']>[0];
        if (flags.file) {
          const doc = readJsonFile(flags.file) as Record<string, unknown>;
          body = {
            class: changed
              ? { ...doc, name, ...objective, budgets: { ...(doc.budgets as object | undefined), ...budgets } }
              : { ...doc, name, ...objective },
          };
        } else {
          // Budgets replace as a whole, so the profile's own budgets are carried over before the changes.
          const base = BUILTIN_CLASS_PROFILES.get(flags.profile ?? '');
          body = {
            profile: flags.profile ?? '',
            name,
            ...(changed || flags.objective
              ? { patch: { ...objective, ...(changed ? { budgets: { ...base?.budgets, ...budgets } } : {}) } }
              : {}),
          };
        }
        const created = await withClasses(flags, 'create', true, (c) => c.create(body));
        if (flags.json) printClass(created, true);
        else
          process.stdout.write(
            `created class ${created.name} (version ${created.version}); budgets: ${budgetText(created)}\n`,
          );
      },
    );
  addAdminFlags(cmd.command('list'))
    .description('List classes with their precisions and budgets.')
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: AdminFlags & { json?: boolean }) => {
      const { classes: list, unconfigured } = await withClasses(flags, 'list', false, (c) => c.list());
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ classes: list, unconfigured }, null, 2)}\n`);
        return;
      }
      if (list.length === 0 && unconfigured.length === 0) {
        process.stdout.write(
          `no classes yet; create one with \`edgefleet class create NAME --profile ${PROFILES.split(', ')[0]}\`\n`,
        );
        return;
      }
      const rows = list.map((c) => [
        c.name,
        String(c.version),
        c.capabilities.precisions.join(','),
        c.speedModel.version,
        budgetText(c),
      ]);
      for (const u of unconfigured)
        rows.push([u.name, '-', '-', '-', 'no profile yet (seen from a device); `edgefleet class create` it']);
      process.stdout.write(`${formatTable(['CLASS', 'VERSION', 'PRECISIONS', 'SPEED MODEL', 'BUDGETS'], rows)}\n`);
    });
  addAdminFlags(cmd.command('show'))
    .description('Show one class with the source of every figure.')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, flags: AdminFlags & { json?: boolean }) => {
      printClass(await withClasses(flags, 'show', false, (c) => c.get(name)), flags.json);
    });
  addAdminFlags(cmd.command('update'))
    .description(
      'Change a class (budgets merge with --budget; --file applies a JSON patch); bumps its version and ' +
        'invalidates its plans.',
    )
    .argument('<name>')
    .option('--budget <NAME=VALUE>', 'set a budget (repeatable)', collect, [] as string[])
    .option('--speed <PRECISION=FACTOR>', 'set a speed factor, e.g. int8=3.5 (repeatable)', collect, [] as string[])
    .option(
      '--objective <kind>',
      `what plans optimise within the budgets: ${PLAN_OBJECTIVES.join('|')}, or default (energy)`,
      parseObjective,
    )
    .option(
      '--file <file>',
      'a JSON patch: {description?, capabilities?, speedModel?, powerModel?, budgets?, sources?}',
    )
    .option('--json', 'print the updated class as JSON')
    .action(
      async (
        name: string,
        flags: AdminFlags & {
          budget: string[];
          speed: string[];
          file?: string;
          objective?: PlanObjectiveKind | 'default';
          json?: boolean;
        },
      ) => {
        const budgets = parseAssignments(flags.budget, '--budget');
        const speed = parseAssignments(flags.speed, '--speed');
        const file = flags.file ? { ...(readJsonFile(flags.file) as object) } : {};
        const updated = await withClasses(flags, 'update', true, async (c) => {
          const current = await c.get(name);
          const patch: Record<string, unknown> = { ...file };
          if (Object.keys(budgets).length)
            patch.budgets = { ...current.budgets, ...(patch.budgets as object | undefined), ...budgets };
          if (Object.keys(speed).length)
            patch.speedModel = {
              factors: { ...current.speedModel.factors, ...speed },
              version: `${current.speedModel.version.split('+')[0]}+edit${current.version + 1}`,
            };
          if (flags.objective !== undefined)
            patch.objective = flags.objective === 'default' ? null : { kind: flags.objective };
          return c.update(name, patch);
        });
        if (flags.json) printClass(updated, true);
        else
          process.stdout.write(
            `updated class ${updated.name} to version ${updated.version}; its earlier plans are invalidated\n`,
          );
      },
    );
  addAdminFlags(cmd.command('delete'))
    .description('Delete a class and its plans (refused while devices belong to it).')
    .argument('<name>')
    .action(async (name: string, flags: AdminFlags) => {
      await withClasses(flags, 'delete', true, (c) => c.remove(name));
      process.stdout.write(`deleted class ${name}\n`);
    });
  return cmd;
}
