import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { z } from 'zod';
import { EdgefleetError } from '@edgefleet/shared';
import {
  DTYPE_BYTES,
  elementCount,
  formatDims,
  type Dataset,
  type SampleData,
  type SampleDtype,
  type SampleTensor,
} from './tensor.js';

/**
 * A directory of sample tensors (format documented in compress/src/data/README.md):
 *
 *     DIR/manifest.json   {"format":"edgefleet-samples","version":1,"count":N,
 *                          "tensors":[{"name":"input","dtype":"float32","dims":[N,784],"file":"input.bin"}],
 *                          "labels":{"file":"labels.bin"}}          (labels optional)
 *     DIR/input.bin       raw little-endian elements, row-major, N·784·4 bytes
 *     DIR/labels.bin      N little-endian int32 class indices
 *
 * One tensor per model input, named like the input; every tensor's first dim is N.
 */
export const SAMPLE_DIR_MANIFEST = 'manifest.json';

/** Largest tensor file we read (bytes); larger needs a smaller sample set. */
export const SAMPLE_DIR_MAX_BYTES = 1024 * 1024 * 1024;

const relFile = z
  .string()
  .min(1)
  .refine((f) => !isAbsolute(f) && !normalize(f).startsWith('..'), 'must be a relative path inside the directory');

const manifestSchema = z.strictObject({
  format: z.literal('edgefleet-samples'),
  version: z.literal(1),
  count: z.number().int().nonnegative(),
  tensors: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        dtype: z.enum(['float32', 'int32', 'int64', 'uint8', 'int8', 'bool']),
        dims: z.array(z.number().int().nonnegative()).min(1),
        file: relFile,
      }),
    )
    .min(1),
  labels: z.strictObject({ file: relFile }).optional(),
});

/** The parsed manifest.json of a sample directory. */
export type SampleDirManifest = z.infer<typeof manifestSchema>;

function fail(dir: string, message: string, cause?: unknown): never {
  throw new EdgefleetError(
    'EF_ERR_DATA_SOURCE',
    `sample directory ${dir}: ${message}`,
    { dir },
    cause === undefined ? undefined : { cause },
  );
}

function readBytes(dir: string, file: string, expected: number): Buffer {
  const path = join(dir, file);
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err: unknown) {
    fail(dir, `cannot read ${file}; the manifest lists it but it is missing`, err);
  }
  if (size !== expected) fail(dir, `${file} has ${size} bytes but the manifest's dims need ${expected}`);
  return readFileSync(path);
}

function decode(buf: Buffer, dtype: SampleDtype, n: number): SampleData {
  // Copy into a fresh aligned buffer: a Buffer's offset need not be a multiple of 8.
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  switch (dtype) {
    case 'float32':
      return new Float32Array(bytes.buffer, 0, n);
    case 'int32':
      return new Int32Array(bytes.buffer, 0, n);
    case 'int64':
      return new BigInt64Array(bytes.buffer, 0, n);
    case 'int8':
      return new Int8Array(bytes.buffer, 0, n);
    case 'uint8':
    case 'bool':
      return bytes;
  }
}

/** Read a sample directory into a {@link Dataset}; every size and path is checked first. */
export function readSampleDir(dir: string): Dataset {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new Error('sample directories need a little-endian host');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, SAMPLE_DIR_MANIFEST), 'utf8'));
  } catch (err: unknown) {
    fail(dir, `no readable ${SAMPLE_DIR_MANIFEST}; see compress/src/data/README.md for the format`, err);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) fail(dir, `invalid ${SAMPLE_DIR_MANIFEST}:\n${z.prettifyError(parsed.error)}`);
  const m = parsed.data;
  const inputs: Record<string, SampleTensor> = {};
  for (const t of m.tensors) {
    if (t.dims[0] !== m.count)
      fail(
        dir,
        `tensor "${t.name}" has dims ${formatDims(t.dims)} but count is ${m.count}; the first dim must be the ` +
          `sample count`,
      );
    const n = elementCount(t.dims);
    const bytes = n * DTYPE_BYTES[t.dtype];
    if (!Number.isSafeInteger(bytes) || bytes > SAMPLE_DIR_MAX_BYTES)
      fail(
        dir,
        `tensor "${t.name}" ${formatDims(t.dims)} would need ${bytes} bytes, over the ` +
          `${SAMPLE_DIR_MAX_BYTES}-byte limit`,
      );
    if (inputs[t.name]) fail(dir, `tensor "${t.name}" is listed twice`);
    inputs[t.name] = { dtype: t.dtype, dims: t.dims, data: decode(readBytes(dir, t.file, bytes), t.dtype, n) };
  }
  const base = { source: dir, count: m.count, inputs };
  if (!m.labels) return base;
  const labels = decode(readBytes(dir, m.labels.file, m.count * 4), 'int32', m.count) as Int32Array;
  return { ...base, labels };
}

function fileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.bin`;
}

/** Write a dataset as a sample directory (creating it), e.g. to fix a calibration set. */
export function writeSampleDir(dir: string, ds: Dataset): SampleDirManifest {
  mkdirSync(dir, { recursive: true });
  const tensors = Object.entries(ds.inputs).map(([name, t]) => {
    const file = fileName(name);
    writeFileSync(join(dir, file), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    return { name, dtype: t.dtype, dims: [...t.dims], file };
  });
  const manifest: SampleDirManifest = { format: 'edgefleet-samples', version: 1, count: ds.count, tensors };
  if (ds.labels) {
    writeFileSync(
      join(dir, 'labels.bin'),
      new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength),
    );
    manifest.labels = { file: 'labels.bin' };
  }
  writeFileSync(join(dir, SAMPLE_DIR_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
