/**
 * The last step of a download: the finished part file against the signed manifest
 * [EF-PROTO 6.3]. As it is: its size and sha256 must be the manifest's. Encoded (gzip): it must
 * have `encodedSize` bytes, and it is decoded as a stream while the decoded bytes are hashed,
 * stopping at once when they run past `size` (a stream that inflates without end cannot fill
 * the disk); the decoded file must then have `size` bytes and `sha256`. Only a verified model
 * file enters the store; anything else discards the partial download and names the reason.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { asError, isEdgefleetError, sha256Hex, transferSizeOf, type ManifestBody } from '@edgefleet/shared/device';
import { stepFailure } from './failure.js';
import type { ArtifactStore } from './store.js';

type Artifact = ManifestBody['artifact'];

async function refuse(store: ArtifactStore, sha256: string, extra: string | null, err: Error): Promise<never> {
  await store.discardPartial(sha256);
  if (extra) await rm(extra, { force: true });
  throw err;
}

/** Checks the part file of `artifact` (decoding it when encoded) and moves the model into the store. */
export async function verifyAndAdopt(artifact: Artifact, store: ArtifactStore): Promise<void> {
  const { sha256, size } = artifact;
  const part = store.partPath(sha256);
  if (!artifact.encoding) {
    const bytes = await readFile(part);
    if (bytes.byteLength !== size)
      await refuse(
        store,
        sha256,
        null,
        stepFailure('verify', 'size-mismatch', `downloaded ${bytes.byteLength} bytes, the manifest says ${size}`),
      );
    const actual = sha256Hex(bytes);
    if (actual !== sha256)
      await refuse(
        store,
        sha256,
        null,
        stepFailure('verify', 'digest-mismatch', `artifact hashes to ${actual}, the manifest says ${sha256}`),
      );
    await store.adopt(sha256, part);
    await store.discardPartial(sha256);
    return;
  }
  const wire = (await stat(part)).size;
  if (wire !== transferSizeOf(artifact))
    await refuse(
      store,
      sha256,
      null,
      stepFailure(
        'verify',
        'size-mismatch',
        `downloaded ${wire} encoded bytes, the manifest says ${transferSizeOf(artifact)}`,
      ),
    );
  const decoded = `${part}.decoded`;
  const actual = await decodeTo(part, decoded, size).catch((err: unknown) =>
    refuse(store, sha256, decoded, asFailure(err)),
  );
  if (actual !== sha256)
    await refuse(
      store,
      sha256,
      decoded,
      stepFailure('verify', 'digest-mismatch', `decoded artifact hashes to ${actual}, the manifest says ${sha256}`),
    );
  await store.adopt(sha256, decoded);
  await store.discardPartial(sha256);
}

function asFailure(err: unknown): Error {
  if (isEdgefleetError(err)) return err;
  return stepFailure('verify', 'digest-mismatch', `the gzip stream does not decode: ${asError(err).message}`, err);
}

/** gunzips `from` into `to` (fsynced), refusing more than `limit` bytes; returns the decoded sha256. */
async function decodeTo(from: string, to: string, limit: number): Promise<string> {
  const hash = createHash('sha256');
  const out = await open(to, 'w');
  let total = 0;
  // pipeline() reports a consumer's throw as an AbortError: keep our own reason to rethrow it.
  let overrun: Error | undefined;
  try {
    await pipeline(createReadStream(from), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const piece of source) {
        total += piece.byteLength;
        if (total > limit) {
          overrun = stepFailure(
            'verify',
            'size-mismatch',
            `the encoded artifact decodes to more than the ${limit} bytes of the manifest`,
          );
          throw overrun;
        }
        hash.update(piece);
        await out.write(piece);
      }
    }).catch((err: unknown) => {
      throw overrun ?? err;
    });
    if (total !== limit)
      throw stepFailure(
        'verify',
        'size-mismatch',
        `the encoded artifact decodes to ${total} bytes, the manifest says ${limit}`,
      );
    await out.sync();
  } finally {
    await out.close();
  }
  return hash.digest('hex');
}
