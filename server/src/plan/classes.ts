/**
 * Device classes over the store: create, list, show, update, delete. Every update bumps the
 * class version and invalidates its plans in the same transaction, so a plan never outlives
 * the budgets and models it was made from. Input is validated with the shared schemas; bad
 * input is an EF_ERR_CLASS_INVALID naming each problem by its path.
 */
import { z } from 'zod';
import {
  deviceClassInputSchema,
  deviceClassPatchSchema,
  deviceClassSchema,
  EdgefleetError,
  type DeviceClass,
  type DeviceClassSpec,
} from '@edgefleet/shared';
import type { Store } from '../store/sqlite/open.js';
import type { ClassRow } from '../store/sqlite/planner.js';
import { BUILTIN_CLASS_PROFILES } from './profiles/builtin.js';

/** A class row known only from a device's hello (no profile yet). */
export interface UnconfiguredClass {
  readonly name: string;
  readonly configured: false;
  readonly createdAt: number;
}

export interface ClassService {
  /** Creates a class from a full document; EF_ERR_CLASS_EXISTS when a configured class has the name. */
  create(input: unknown): DeviceClass;
  /** Creates a class from a built-in profile, optionally under another name and with budget changes. */
  createFromProfile(profile: string, name?: string, patch?: unknown): DeviceClass;
  /** Every configured class, by name. */
  list(): DeviceClass[];
  /** Classes devices announced that have no profile yet. */
  listUnconfigured(): UnconfiguredClass[];
  /** The class, or EF_ERR_CLASS_NOT_FOUND (with advice). */
  get(name: string): DeviceClass;
  /** Merges a patch (budgets replace as a whole), bumps the version and invalidates the class's plans. */
  update(name: string, patch: unknown): DeviceClass;
  /** Deletes the class and its plans; refused while devices belong to it. */
  remove(name: string): void;
}

function invalid(what: string, error: z.ZodError): EdgefleetError {
  return new EdgefleetError('EF_ERR_CLASS_INVALID', `${what}:\n${z.prettifyError(error)}`, {
    issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

/** Validates a class document; throws EF_ERR_CLASS_INVALID with every problem. */
export function parseClassInput(input: unknown): DeviceClassSpec {
  const r = deviceClassInputSchema.safeParse(input);
  if (!r.success) throw invalid('the device class is invalid', r.error);
  return r.data;
}

function fromRow(row: ClassRow): DeviceClass | null {
  if (row.profile === null) return null;
  return deviceClassSchema.parse({
    ...(row.profile as object),
    name: row.name,
    description: row.description,
    budgets: row.budgets,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });
}

function profileOf(spec: DeviceClassSpec): Omit<DeviceClassSpec, 'name' | 'description' | 'budgets'> {
  return {
    capabilities: spec.capabilities,
    speedModel: spec.speedModel,
    powerModel: spec.powerModel,
    sources: spec.sources,
  };
}

/** Creates the class service over an open store. */
export function createClassService(store: Store, opts: { now?: () => number } = {}): ClassService {
  const now = opts.now ?? Date.now;
  const tables = store.planner;
  const notFound = (name: string): EdgefleetError =>
    new EdgefleetError(
      'EF_ERR_CLASS_NOT_FOUND',
      `no device class "${name}"; list them with \`edgefleet class list\` or create one with \`edgefleet class create ${name} --profile ${[...BUILTIN_CLASS_PROFILES.keys()].join('|')}\``,
      { name },
    );

  const service: ClassService = {
    create(input) {
      const spec = parseClassInput(input);
      const created = tables.createClass({
        name: spec.name,
        description: spec.description,
        profile: profileOf(spec),
        budgets: spec.budgets,
        createdAt: now(),
      });
      if (!created)
        throw new EdgefleetError(
          'EF_ERR_CLASS_EXISTS',
          `device class "${spec.name}" already exists; change it with \`edgefleet class update ${spec.name}\``,
          { name: spec.name },
        );
      return service.get(spec.name);
    },
    createFromProfile(profile, name, patch) {
      const base = BUILTIN_CLASS_PROFILES.get(profile);
      if (!base)
        throw new EdgefleetError(
          'EF_ERR_CLASS_NOT_FOUND',
          `no built-in profile "${profile}"; built-in profiles are ${[...BUILTIN_CLASS_PROFILES.keys()].join(', ')}`,
          { profile },
        );
      const doc = mergePatch({ ...base, name: name ?? base.name }, patch ?? {}, 'the class is invalid');
      return service.create(doc);
    },
    list: () =>
      tables
        .listClasses()
        .map(fromRow)
        .filter((c): c is DeviceClass => c !== null),
    listUnconfigured: () =>
      tables
        .listClasses()
        .filter((r) => r.profile === null)
        .map((r) => ({ name: r.name, configured: false as const, createdAt: r.createdAt })),
    get(name) {
      const row = tables.getClass(name);
      const cls = row ? fromRow(row) : null;
      if (!cls) throw notFound(name);
      return cls;
    },
    update(name, patch) {
      const current = service.get(name);
      const spec = parseClassInput(mergePatch(current, patch, 'the class update is invalid'));
      const version = tables.updateClass(name, spec.description, profileOf(spec), spec.budgets, now());
      if (version === null) throw notFound(name);
      return service.get(name);
    },
    remove(name) {
      const r = tables.deleteClass(name);
      if (r === 'absent') throw notFound(name);
      if (r === 'in-use')
        throw new EdgefleetError(
          'EF_ERR_CLASS_INVALID',
          `device class "${name}" still has devices; move or remove them before deleting the class`,
          { name },
        );
    },
  };
  return service;
}

/** Applies a validated patch to a class document (budgets and sources replace; the rest merge per field). */
function mergePatch(current: DeviceClassSpec | DeviceClass, patchInput: unknown, what: string): DeviceClassSpec {
  const r = deviceClassPatchSchema.safeParse(patchInput);
  if (!r.success) throw invalid(what, r.error);
  const p = r.data;
  return {
    name: current.name,
    description: p.description ?? current.description,
    capabilities: {
      ...current.capabilities,
      ...(stripUndefined(p.capabilities ?? {}) as Partial<DeviceClassSpec['capabilities']>),
    },
    speedModel: {
      ...current.speedModel,
      ...(stripUndefined(p.speedModel ?? {}) as Partial<DeviceClassSpec['speedModel']>),
    },
    powerModel: {
      ...current.powerModel,
      ...(stripUndefined(p.powerModel ?? {}) as Partial<DeviceClassSpec['powerModel']>),
    },
    budgets: p.budgets ?? current.budgets,
    sources: p.sources ?? current.sources,
  };
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
