/**
 * Device classes over the store: create, list, show, update, delete. Every update bumps the
 * class version and invalidates its plans in the same transaction, so a plan never outlives
 * the budgets and models it was made from. Input is validated with the shared schemas; bad
 * input is an EF_ERR_CLASS_INVALID naming each problem by its path.
 */
import { z } from 'zod';
import {
  stripUndefined,
  deviceClassInputSchema,
  deviceClassPatchSchema,
  deviceClassSchema,
  EdgefleetError,
  type DeviceClass,
  type DeviceClassSpec,
} from '@edgefleet/shared';
import type { ClassProfile, ClassRepository, ClassRow } from '../store/classes.js';
import { BUILTIN_CLASS_PROFILES } from './profiles/builtin.js';

/** A class row known only from a device's hello (no profile yet). */
export interface UnconfiguredClass {
  readonly name: string;
  readonly configured: false;
  readonly createdAt: number;
}

export interface ClassService {
  /** Creates a class from a full document; EF_ERR_CLASS_EXISTS when a configured class has the name. */
  create(input: unknown): Promise<DeviceClass>;
  /** Creates a class from a built-in profile, optionally under another name and with budget changes. */
  createFromProfile(profile: string, name?: string, patch?: unknown): Promise<DeviceClass>;
  /** Every configured class, by name. */
  list(): Promise<DeviceClass[]>;
  /** Classes devices announced that have no profile yet. */
  listUnconfigured(): Promise<UnconfiguredClass[]>;
  /** The class, or EF_ERR_CLASS_NOT_FOUND (with advice). */
  get(name: string): Promise<DeviceClass>;
  /** The class, or null when it is unknown or has no profile yet. */
  find(name: string): Promise<DeviceClass | null>;
  /** Merges a patch (budgets replace as a whole), bumps the version and invalidates the class's plans. */
  update(name: string, patch: unknown): Promise<DeviceClass>;
  /** Deletes the class and its plans; refused while devices belong to it. */
  remove(name: string): Promise<void>;
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
  if (row.profile === null || row.budgets === null) return null;
  return deviceClassSchema.parse({
    ...row.profile,
    name: row.name,
    description: row.description,
    budgets: row.budgets,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });
}

function profileOf(spec: DeviceClassSpec): ClassProfile {
  return {
    capabilities: spec.capabilities,
    speedModel: spec.speedModel,
    powerModel: spec.powerModel,
    sources: spec.sources,
  };
}

/** Creates the class service over the class repository. */
export function createClassService(classes: ClassRepository, opts: { now?: () => number } = {}): ClassService {
  const now = opts.now ?? Date.now;
  const notFound = (name: string): EdgefleetError =>
    new EdgefleetError(
      'EF_ERR_CLASS_NOT_FOUND',
      `no device class "${name}"; list them with \`edgefleet class list\` or create one with ` +
        `\`edgefleet class create ${name} --profile ${[...BUILTIN_CLASS_PROFILES.keys()].join('|')}\``,
      { name },
    );
  const find = async (name: string): Promise<DeviceClass | null> => {
    const row = await classes.get(name);
    return row ? fromRow(row) : null;
  };
  const get = async (name: string): Promise<DeviceClass> => {
    const cls = await find(name);
    if (!cls) throw notFound(name);
    return cls;
  };
  const create = async (input: unknown): Promise<DeviceClass> => {
    const spec = parseClassInput(input);
    const created = await classes.create({
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
    return get(spec.name);
  };

  return {
    create,
    async createFromProfile(profile, name, patch) {
      const base = BUILTIN_CLASS_PROFILES.get(profile);
      if (!base)
        throw new EdgefleetError(
          'EF_ERR_CLASS_NOT_FOUND',
          `no built-in profile "${profile}"; built-in profiles are ${[...BUILTIN_CLASS_PROFILES.keys()].join(', ')}`,
          { profile },
        );
      return create(mergePatch({ ...base, name: name ?? base.name }, patch ?? {}, 'the class is invalid'));
    },
    list: async () => (await classes.list()).map(fromRow).filter((c): c is DeviceClass => c !== null),
    listUnconfigured: async () =>
      (await classes.list())
        .filter((r) => r.profile === null)
        .map((r) => ({ name: r.name, configured: false as const, createdAt: r.createdAt })),
    get,
    find,
    async update(name, patch) {
      const current = await get(name);
      const spec = parseClassInput(mergePatch(current, patch, 'the class update is invalid'));
      const doc = { description: spec.description, profile: profileOf(spec), budgets: spec.budgets };
      if ((await classes.update(name, doc, now())) === null) throw notFound(name);
      return get(name);
    },
    async remove(name) {
      const r = await classes.delete(name);
      if (r === 'absent') throw notFound(name);
      if (r === 'in-use')
        throw new EdgefleetError(
          'EF_ERR_CLASS_INVALID',
          `device class "${name}" still has devices; move or remove them before deleting the class`,
          { name },
        );
    },
  };
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
      ...stripUndefined(p.capabilities ?? {}),
    },
    speedModel: {
      ...current.speedModel,
      ...stripUndefined(p.speedModel ?? {}),
    },
    powerModel: {
      ...current.powerModel,
      ...stripUndefined(p.powerModel ?? {}),
    },
    budgets: p.budgets ?? current.budgets,
    sources: p.sources ?? current.sources,
  };
}
