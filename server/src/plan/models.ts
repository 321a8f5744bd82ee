/**
 * The model store: uploaded ONNX models kept content-addressed (sha256) in the data directory
 * with the evaluation data they are judged on. Adding the same bytes again changes nothing,
 * except that a stored file found missing or damaged is rewritten from them (repaired).
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { EdgefleetError } from '@edgefleet/shared';
import { loadModel, sha256Hex, writeBytesAtomic } from '@edgefleet/compress';
import type { Store } from '../store/db.js';
import type { ModelRow } from '../store/planner-tables.js';

/** A stored model. */
export interface ModelRecord {
  readonly sha256: string;
  readonly name: string;
  /** Relative to the data directory. */
  readonly path: string;
  readonly bytes: number;
  /** Evaluation data: `mnist`, `mnist:SPLIT[:N]`, `random:N` or a sample directory. */
  readonly evalSpec: string;
  /** Fixed dims for symbolic inputs, by input name. */
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly createdAt: number;
}

const shapesSchema = z.record(z.string(), z.array(z.number().int().positive()));
const nameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'model name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit');

function toRecord(row: ModelRow): ModelRecord {
  return { ...row, shapes: shapesSchema.parse(row.shapes) };
}

/** Checks an evaluation spec without loading the data: mnist…, random:…, or an existing directory. */
export function checkEvalSpec(spec: string): string {
  if (spec === 'mnist' || spec.startsWith('mnist:') || spec.startsWith('random:')) return spec;
  const dir = resolve(spec);
  if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  throw new EdgefleetError(
    'EF_ERR_DATA_SOURCE',
    `--eval "${spec}" is not mnist, random:N or an existing sample directory`,
    { spec },
  );
}

/** Options of {@link addModel}. */
export interface AddModelOptions {
  readonly store: Store;
  readonly dataDir: string;
  readonly bytes: Uint8Array;
  readonly name: string;
  /** Default `mnist`. */
  readonly evalSpec?: string;
  readonly shapes?: Record<string, number[]>;
  readonly now?: number;
}

/** True when the stored file at `path` holds exactly the bytes named `sha`. */
async function storedIntact(path: string, sha: string): Promise<boolean> {
  try {
    return sha256Hex(await readFile(path)) === sha;
  } catch {
    return false;
  }
}

/**
 * Stores a model; `added` is false when the same bytes were already there. Then nothing
 * changes, unless the stored file is missing or no longer hashes to its name: it is
 * rewritten from the bytes offered and `repaired` is true.
 */
export async function addModel(
  opts: AddModelOptions,
): Promise<{ model: ModelRecord; added: boolean; repaired: boolean }> {
  const name = nameSchema.safeParse(opts.name);
  if (!name.success)
    throw new EdgefleetError('EF_ERR_CLASS_INVALID', `--name: ${name.error.issues[0]?.message ?? 'invalid'}`, {
      name: opts.name,
    });
  const sha = sha256Hex(opts.bytes);
  const existing = opts.store.planner.getModel(sha);
  if (existing) {
    const path = join(resolve(opts.dataDir), existing.path);
    const repaired = !(await storedIntact(path, sha));
    if (repaired) await writeBytesAtomic(path, opts.bytes);
    return { model: toRecord(existing), added: false, repaired };
  }
  loadModel(opts.bytes); // refuses non-ONNX bytes with EF_ERR_MODEL_PARSE before anything is stored
  const evalSpec = checkEvalSpec(opts.evalSpec ?? 'mnist');
  const path = join('models', `${sha}.onnx`);
  await writeBytesAtomic(join(resolve(opts.dataDir), path), opts.bytes);
  const row: ModelRow = {
    sha256: sha,
    name: name.data,
    path,
    bytes: opts.bytes.length,
    evalSpec,
    shapes: opts.shapes ?? {},
    createdAt: opts.now ?? Date.now(),
  };
  const added = opts.store.planner.insertModel(row);
  return { model: toRecord(opts.store.planner.getModel(sha) ?? row), added, repaired: false };
}

/** Resolves a model by sha256 (or a unique prefix of at least 8 hex digits) or by name (newest). */
export function resolveModel(store: Store, ref: string): ModelRecord {
  const exact = store.planner.getModel(ref);
  if (exact) return toRecord(exact);
  const named = store.planner.modelsNamed(ref)[0];
  if (named) return toRecord(named);
  if (/^[0-9a-f]{8,63}$/.test(ref)) {
    const matches = store.planner.listModels().filter((m) => m.sha256.startsWith(ref));
    if (matches.length === 1 && matches[0]) return toRecord(matches[0]);
  }
  throw new EdgefleetError(
    'EF_ERR_MODEL_NOT_FOUND',
    `no model "${ref}" in the store; add it with \`edgefleet model add FILE.onnx --name NAME\` or list models with \`edgefleet model list\``,
    { ref },
  );
}

/** Every stored model, by name. */
export function listModels(store: Store): ModelRecord[] {
  return store.planner.listModels().map(toRecord);
}
