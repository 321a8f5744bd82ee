/**
 * Optional HTTP(S) download of an artifact for devices that prefer it [EF-PROTO 6.3]: the
 * same bytes, checked the same way (size and sha256 from the signed manifest) before they
 * enter the store. The URL itself is not trusted; only the digest is.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { asError, isEdgefleetError, transferSizeOf, type ManifestBody } from '@edgefleet/shared/device';
import { stepFailure } from './failure.js';
import type { ArtifactStore } from './store.js';
import { verifyAndAdopt } from './verify.js';

export interface HttpDownloadOptions {
  /** Gives up after this long, in ms. Default 120 000. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
}

/** Downloads `url` into the store as `artifact.sha256`, or throws a step failure naming why not. */
export async function downloadHttp(
  url: string,
  artifact: ManifestBody['artifact'],
  store: ArtifactStore,
  options: HttpDownloadOptions = {},
): Promise<{ bytes: number }> {
  if (await store.has(artifact.sha256)) return { bytes: 0 };
  const signals = [AbortSignal.timeout(options.timeoutMs ?? 120_000), ...(options.signal ? [options.signal] : [])];
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { signal: AbortSignal.any(signals) });
  } catch (err: unknown) {
    throw stepFailure('download', 'download-timeout', `GET ${url} failed: ${asError(err).message}`, err);
  }
  if (!response.ok || !response.body)
    throw stepFailure('download', 'download-refused', `GET ${url} answered ${response.status}`);
  const partPath = store.partPath(artifact.sha256);
  const wireSize = transferSizeOf(artifact);
  const file = await open(partPath, 'w');
  const hash = createHash('sha256');
  let received = 0;
  try {
    for await (const piece of response.body as unknown as AsyncIterable<Uint8Array>) {
      received += piece.byteLength;
      // Stop at once if the server sends more than the manifest allows.
      if (received > wireSize)
        throw stepFailure('verify', 'size-mismatch', `GET ${url} sent more than the ${wireSize} bytes of the manifest`);
      hash.update(piece);
      await file.write(piece);
    }
    await file.sync();
  } catch (err: unknown) {
    await file.close();
    await store.discardPartial(artifact.sha256);
    if (isEdgefleetError(err)) throw err;
    throw stepFailure(
      'download',
      'download-timeout',
      `GET ${url} broke off after ${received} bytes: ${asError(err).message}`,
      err,
    );
  }
  await file.close();
  if (artifact.encoding) {
    // The route serves the encoded bytes; decoding verifies the model's own size and digest.
    await verifyAndAdopt(artifact, store);
    return { bytes: received };
  }
  if (received !== artifact.size) {
    await store.discardPartial(artifact.sha256);
    throw stepFailure(
      'verify',
      'size-mismatch',
      `GET ${url} sent ${received} bytes, the manifest says ${artifact.size}`,
    );
  }
  const actual = hash.digest('hex');
  if (actual !== artifact.sha256) {
    await store.discardPartial(artifact.sha256);
    throw stepFailure(
      'verify',
      'digest-mismatch',
      `GET ${url} bytes hash to ${actual}, the manifest says ${artifact.sha256}`,
    );
  }
  await store.adopt(artifact.sha256, partPath);
  return { bytes: received };
}
