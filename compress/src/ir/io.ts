/**
 * Model files on disk: size-checked reads and atomic writes (temp file + rename).
 */
import { type FileHandle, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EdgefleetError } from '@edgefleet/shared';
import { DEFAULT_LOAD_LIMITS, loadModel, type LoadOptions } from './decode.js';
import { sha256Hex, writeModel } from './encode.js';
import type { Model } from './types.js';

/** Read a file's bytes, refusing before reading anything when it is larger than `maxBytes`. */
export async function readModelBytes(
  path: string,
  maxBytes: number = DEFAULT_LOAD_LIMITS.maxModelBytes,
): Promise<Uint8Array> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    const hint =
      code === 'ENOENT'
        ? 'check the path'
        : code === 'EACCES'
          ? 'check the file permissions'
          : 'check that it is a readable file';
    throw new EdgefleetError(
      'EF_ERR_MODEL_PARSE',
      `cannot open model file '${path}' (${code}); ${hint}`,
      { path, code },
      { cause: err },
    );
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new EdgefleetError(
        'EF_ERR_MODEL_TOO_LARGE',
        `model file '${path}' is ${size} bytes, over the ${maxBytes}-byte limit`,
        { path, bytes: size, limit: maxBytes },
      );
    }
    try {
      return new Uint8Array(await handle.readFile());
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_MODEL_PARSE',
        `cannot read model file '${path}' (${(err as NodeJS.ErrnoException).code ?? String(err)}); is it a directory?`,
        { path },
        { cause: err },
      );
    }
  } finally {
    await handle.close();
  }
}

/** Read and load (decode + verify, per `options`) a model file. */
export async function readModelFile(path: string, options: LoadOptions = {}): Promise<Model> {
  return loadModel(await readModelBytes(path, options.maxModelBytes), options);
}

/**
 * Write a model to `path` atomically: into a temp file in the same directory, then renamed,
 * so a failure never leaves a partial model. Returns the size written and its sha256.
 */
export async function writeModelFile(model: Model, path: string): Promise<{ bytes: number; sha256: string }> {
  const bytes = writeModel(model);
  await writeBytesAtomic(path, bytes);
  return { bytes: bytes.byteLength, sha256: sha256Hex(bytes) };
}

/** Write bytes to `path` through a temp file and a rename. */
export async function writeBytesAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${process.hrtime.bigint().toString(36)}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** What `convertModelFile` did. */
export interface ConvertResult {
  input: { path: string; bytes: number; sha256: string };
  output: { path: string; bytes: number; sha256: string };
  nodes: number;
}

/**
 * Read a model through the IR (decode + verify) and write it back out atomically. The result
 * runs identically; bytes may differ from the input (canonical encoding, raw_data tensors).
 */
export async function convertModelFile(
  inPath: string,
  outPath: string,
  options: LoadOptions = {},
): Promise<ConvertResult> {
  const bytes = await readModelBytes(inPath, options.maxModelBytes);
  const model = loadModel(bytes, options);
  const written = await writeModelFile(model, outPath);
  return {
    input: { path: inPath, bytes: bytes.byteLength, sha256: sha256Hex(bytes) },
    output: { path: outPath, ...written },
    nodes: model.graph.nodes.length,
  };
}
