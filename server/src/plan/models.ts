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
import type { ModelRepository, ModelRow } from '../store/models.js';
import { sweepTemporaryFiles } from '../temp-files.js';

/** A stored model (the repository's row: sha256, name, path relative to the data directory, eval spec, shapes). */
export type ModelRecord = ModelRow;

const nameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'model name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit');

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
  readonly models: ModelRepository;
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
    throw new EdgefleetError('EF_ERR_MODEL_INVALID', `model name: ${name.error.issues[0]?.message ?? 'invalid'}`, {
      name: opts.name,
    });
  const sha = sha256Hex(opts.bytes);
  const existing = await opts.models.get(sha);
  if (existing) {
    const path = join(resolve(opts.dataDir), existing.path);
    const repaired = !(await storedIntact(path, sha));
    if (repaired) await writeBytesAtomic(path, opts.bytes);
    return { model: existing, added: false, repaired };
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
  const added = await opts.models.insert(row);
  return { model: (await opts.models.get(sha)) ?? row, added, repaired: false };
}

/** Resolves a model by sha256 (or a unique prefix of at least 8 hex digits) or by name (newest). */
export async function resolveModel(models: ModelRepository, ref: string): Promise<ModelRecord> {
  const exact = await models.get(ref);
  if (exact) return exact;
  const named = (await models.named(ref))[0];
  if (named) return named;
  if (/^[0-9a-f]{8,63}$/.test(ref)) {
    const matches = (await models.list()).filter((m) => m.sha256.startsWith(ref));
    if (matches.length === 1 && matches[0]) return matches[0];
  }
  throw new EdgefleetError(
    'EF_ERR_MODEL_NOT_FOUND',
    `no model "${ref}" in the store; add it with \`edgefleet model add FILE.onnx --name NAME\` ` +
      'or list models with `edgefleet model list`',
    { ref },
  );
}

/** Every stored model, by name. */
export function listModels(models: ModelRepository): Promise<ModelRecord[]> {
  return models.list();
}

/** The model store as a service: the repository and the data directory bound once. */
export interface ModelService {
  add(
    input: Omit<AddModelOptions, 'models' | 'dataDir'>,
  ): Promise<{ model: ModelRecord; added: boolean; repaired: boolean }>;
  resolve(ref: string): Promise<ModelRecord>;
  list(): Promise<ModelRecord[]>;
}

export function createModelService(models: ModelRepository, dataDir: string, now: () => number): ModelService {
  // An upload killed between its temp file and the rename left the temp file; nothing else writes here now.
  sweepTemporaryFiles(join(resolve(dataDir), 'models'));
  return {
    add: (input) => addModel({ now: now(), ...input, models, dataDir }),
    resolve: (ref) => resolveModel(models, ref),
    list: () => listModels(models),
  };
}
