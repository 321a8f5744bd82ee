import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { EdgefleetError, asError, type DeviceClass } from '@edgefleet/shared';
import { loadServerConfig } from '@edgefleet/server';
import { openStore, type Store } from '@edgefleet/server/store/sqlite/open';
import { BUILTIN_CLASS_PROFILES, createClassService } from '@edgefleet/server/plan/index';
import { addApiFlags, apiClientFromFlags } from '../api-client.js';
import { formatTable } from './devices.js';

/** `--budget maxP95LatencyMs=20` (repeatable) → `{maxP95LatencyMs: 20}`; validation of names and ranges is the schema's. */
export function parseAssignments(values: readonly string[], flag: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([A-Za-z0-9]+)=(-?[0-9.eE+-]+)$/.exec(v);
    if (!m?.[1] || !m[2] || !Number.isFinite(Number(m[2])))
      throw new EdgefleetError(
        'EF_ERR_CLASS_INVALID',
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
    throw new EdgefleetError(
      'EF_ERR_CLASS_INVALID',
      `cannot read class file ${path}: ${asError(err).message}`,
      { path },
      { cause: err },
    );
  }
}

/** Where a class command acts: the data directory, or the admin API with `--api`. */
interface ClassBackend {
  create(body: { class: unknown } | { profile: string; name: string; patch?: unknown }): Promise<DeviceClass>;
  list(): Promise<{ classes: DeviceClass[]; unconfigured: { name: string }[] }>;
  get(name: string): Promise<DeviceClass>;
  update(name: string, patch: unknown): Promise<DeviceClass>;
  remove(name: string): Promise<void>;
}

interface BackendFlags {
  dataDir?: string;
  api?: string;
  token?: string;
}

function withStore<T>(dataDir: string | undefined, readonly: boolean, fn: (store: Store) => T): T {
  const config = loadServerConfig({ env: process.env, flags: { dataDir } });
  const store = openStore({ dataDir: config.dataDir, readonly });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** The data-directory backend opens the store per call (read-only for reads) and closes it again. */
function backendFor(flags: BackendFlags): ClassBackend {
  if (flags.api !== undefined) {
    const api = apiClientFromFlags(flags);
    const path = (name: string): string => `/v1/classes/${encodeURIComponent(name)}`;
    return {
      create: (body) => api.post<DeviceClass>('/v1/classes', body),
      list: () => api.get('/v1/classes'),
      get: (name) => api.get<DeviceClass>(path(name)),
      update: (name, patch) => api.patch<DeviceClass>(path(name), patch),
      remove: async (name) => {
        await api.delete(path(name));
      },
    };
  }
  const local = <T>(readonly: boolean, fn: (svc: ReturnType<typeof createClassService>) => T): Promise<T> =>
    Promise.resolve().then(() => withStore(flags.dataDir, readonly, (store) => fn(createClassService(store))));
  return {
    create: (body) =>
      local(false, (svc) =>
        'class' in body ? svc.create(body.class) : svc.createFromProfile(body.profile, body.name, body.patch),
      ),
    list: () => local(true, (svc) => ({ classes: svc.list(), unconfigured: svc.listUnconfigured() })),
    get: (name) => local(true, (svc) => svc.get(name)),
    update: (name, patch) => local(false, (svc) => svc.update(name, patch)),
    remove: (name) => local(false, (svc) => svc.remove(name)),
  };
}

const DATA_DIR_HELP = 'data directory of the server (default ./.edgefleet); ignored with --api';

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
    `  precisions: ${c.capabilities.precisions.join(', ')}; memory ${c.capabilities.memoryBytes} B; storage ${c.capabilities.storageBytes} B; ${c.capabilities.cores} cores; ${c.capabilities.processor}`,
    `  speed model ${c.speedModel.version} (${c.speedModel.status}; device latency / host latency): ${Object.entries(
      c.speedModel.factors,
    )
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`,
    `  power model (${c.powerModel.label}): idle ${c.powerModel.idleW} W, active ${Object.entries(c.powerModel.activeW)
      .map(([k, v]) => `${k} ${v} W`)
      .join(', ')}, workload ${c.powerModel.workloadHz} Hz`,
    `  budgets: ${budgetText(c)}`,
    ...Object.entries(c.sources).map(([k, v]) => `  source ${k}: ${v}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];
const PROFILES = [...BUILTIN_CLASS_PROFILES.keys()].join(', ');

/** `edgefleet class create|list|show|update|delete` against the data directory, or the admin API with `--api`. */
export function classCommand(): Command {
  const cmd = new Command('class').description(
    `Manage device classes (capabilities, speed and power models, budgets) in the data directory, or through the admin API with --api URL --token T. Built-in profiles: ${PROFILES}.`,
  );
  addApiFlags(cmd.command('create'))
    .description(
      'Create a class from a built-in profile (--profile) or a JSON document (--file), optionally changing budgets.',
    )
    .argument('<name>', 'class name (letters, digits, _ . -)')
    .option('--profile <profile>', `start from a built-in profile: ${PROFILES}`)
    .option('--file <file>', 'a whole class document as JSON (see shared/src/budgets.ts)')
    .option('--budget <NAME=VALUE>', 'set a budget, e.g. maxP95LatencyMs=20 (repeatable)', collect, [] as string[])
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--json', 'print the created class as JSON')
    .action(
      async (
        name: string,
        flags: BackendFlags & { profile?: string; file?: string; budget: string[]; json?: boolean },
      ) => {
        const budgets = parseAssignments(flags.budget, '--budget');
        if (!flags.profile && !flags.file)
          throw new EdgefleetError('EF_ERR_CLASS_INVALID', `give --profile (${PROFILES}) or --file CLASS.json`, {});
        const changed = Object.keys(budgets).length > 0;
        let body: Parameters<ClassBackend['create']>[0];
        if (flags.file) {
          const doc = readJsonFile(flags.file) as Record<string, unknown>;
          body = {
            class: changed
              ? { ...doc, name, budgets: { ...(doc.budgets as object | undefined), ...budgets } }
              : { ...doc, name },
          };
        } else {
          // Budgets replace as a whole, so the profile's own budgets are carried over before the changes.
          const base = BUILTIN_CLASS_PROFILES.get(flags.profile ?? '');
          body = {
            profile: flags.profile ?? '',
            name,
            ...(changed ? { patch: { budgets: { ...base?.budgets, ...budgets } } } : {}),
          };
        }
        const created = await backendFor(flags).create(body);
        if (flags.json) printClass(created, true);
        else
          process.stdout.write(
            `created class ${created.name} (version ${created.version}); budgets: ${budgetText(created)}\n`,
          );
      },
    );
  addApiFlags(cmd.command('list'))
    .description('List classes with their precisions and budgets.')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: BackendFlags & { json?: boolean }) => {
      const { classes: list, unconfigured } = await backendFor(flags).list();
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
  addApiFlags(cmd.command('show'))
    .description('Show one class with the source of every figure.')
    .argument('<name>')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--json', 'print JSON')
    .action(async (name: string, flags: BackendFlags & { json?: boolean }) => {
      printClass(await backendFor(flags).get(name), flags.json);
    });
  addApiFlags(cmd.command('update'))
    .description(
      'Change a class (budgets merge with --budget; --file applies a JSON patch); bumps its version and invalidates its plans.',
    )
    .argument('<name>')
    .option('--budget <NAME=VALUE>', 'set a budget (repeatable)', collect, [] as string[])
    .option('--speed <PRECISION=FACTOR>', 'set a speed factor, e.g. int8=3.5 (repeatable)', collect, [] as string[])
    .option(
      '--file <file>',
      'a JSON patch: {description?, capabilities?, speedModel?, powerModel?, budgets?, sources?}',
    )
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--json', 'print the updated class as JSON')
    .action(
      async (
        name: string,
        flags: BackendFlags & { budget: string[]; speed: string[]; file?: string; json?: boolean },
      ) => {
        const budgets = parseAssignments(flags.budget, '--budget');
        const speed = parseAssignments(flags.speed, '--speed');
        const backend = backendFor(flags);
        const current = await backend.get(name);
        const patch: Record<string, unknown> = flags.file ? { ...(readJsonFile(flags.file) as object) } : {};
        if (Object.keys(budgets).length)
          patch.budgets = { ...current.budgets, ...(patch.budgets as object | undefined), ...budgets };
        if (Object.keys(speed).length)
          patch.speedModel = {
            factors: { ...current.speedModel.factors, ...speed },
            version: `${current.speedModel.version.split('+')[0]}+edit${current.version + 1}`,
          };
        const updated = await backend.update(name, patch);
        if (flags.json) printClass(updated, true);
        else
          process.stdout.write(
            `updated class ${updated.name} to version ${updated.version}; its earlier plans are invalidated\n`,
          );
      },
    );
  addApiFlags(cmd.command('delete'))
    .description('Delete a class and its plans (refused while devices belong to it).')
    .argument('<name>')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (name: string, flags: BackendFlags) => {
      await backendFor(flags).remove(name);
      process.stdout.write(`deleted class ${name}\n`);
    });
  return cmd;
}
