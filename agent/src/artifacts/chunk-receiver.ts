/**
 * Step 3 of a chunk download (chunk-download.ts): hearing the server's `chunk` and `chunk-nack`
 * replies for one deployment. Each chunk is checked against its own digest (damaged on the
 * way: asked for again) and against the signed manifest (the wrong bytes: after
 * `maxMismatches` of one chunk the artifact is refused), then written into the part file.
 */
import {
  type ArtifactLayout,
  chunkRange,
  sha256Hex,
  transferSizeOf,
  type Chunk,
  type Clock,
  type DeployFailureReason,
  type ManifestBody,
} from '@edgefleet/shared/device';
import type { ChunkTransport } from './chunk-download.js';
import { stepFailure } from './failure.js';
import type { PartialFile } from './partial-file.js';

/** How a window ended, besides the chunks it brought. */
export interface WindowOutcome {
  /** The server's last nack in the window: busy (wait this long) or it does not know the deployment. */
  readonly nack: { readonly busyMs: number } | 'unknown' | null;
}

/** Step 3: hears every chunk and nack of this deployment for as long as the download runs. */
export interface ChunkReceiver {
  /**
   * Resolves when every wanted chunk is written, the server answered request `requestId` with
   * a nack (also one that came before this call), something fatal happened, or `timeoutMs` passed.
   */
  receive(
    requestId: number,
    wanted: readonly number[],
    timeoutMs: number,
    clock: Clock,
    signal: AbortSignal | undefined,
  ): Promise<WindowOutcome>;
  /** Throws the failure that ends the download (a chunk that keeps disagreeing with the manifest). */
  throwIfFatal(): void;
  /** Chunks that arrived damaged or not matching the manifest. */
  corrupt(): number;
  /** The server's last refusal of this download as "reason: detail", or null. */
  lastRefusal(): string | null;
  close(): void;
}

export function receiveChunks(
  body: ManifestBody,
  partial: PartialFile,
  transport: ChunkTransport,
  maxMismatches: number,
): ChunkReceiver {
  const mismatches = new Map<number, number>();
  let corrupt = 0;
  let fatal: Error | null = null;
  // The last nack and the request it answers. Kept across calls: a nack often arrives before its
  // window starts waiting (with the request's PUBACK, while `request()` has not resolved yet), and
  // clearing it at the start of each window lost it: the attempt then ended as a timeout.
  let lastNack: { readonly requestId: number; readonly nack: WindowOutcome['nack'] } | null = null;
  // The last refusal (not `busy`) as "reason: detail", for the failure that ends the attempt.
  let refusal: string | null = null;
  let wake: (() => void) | null = null;

  function handleChunk(message: Chunk): void {
    if (message.sha256 !== body.artifact.sha256 || partial.done.has(message.index)) return;
    const check = checkChunk(message, body.artifact);
    if (check === 'ok') {
      // A failed write surfaces at the next flush; here it only must not go unhandled.
      partial.write(message.index, message.data).then(
        () => wake?.(),
        () => wake?.(),
      );
      return;
    }
    if (check === 'out-of-range') return;
    corrupt += 1;
    // Damaged on the way (the message disagrees with itself): ask again. Disagreeing with the
    // signed manifest again and again means the server's artifact is wrong: refuse it.
    if (check === 'damaged') return;
    const n = (mismatches.get(message.index) ?? 0) + 1;
    mismatches.set(message.index, n);
    if (n >= maxMismatches)
      fatal = stepFailure(
        'verify',
        check.reason,
        `chunk ${message.index}: ${check.detail} (${n} times); the server's artifact does not match the ` +
          `signed manifest`,
      );
    wake?.();
  }

  const unlisten = transport.listen((message) => {
    if (message.deploymentId !== body.deploymentId) return;
    if (message.type === 'chunk') return handleChunk(message);
    const nack = message.reason === 'busy' ? { busyMs: Math.max(message.retryAfterMs ?? 1000, 1) } : 'unknown';
    lastNack = { requestId: message.requestId, nack };
    if (message.reason !== 'busy') refusal = `${message.reason}: ${message.detail ?? 'no detail'}`;
    wake?.();
  });

  return {
    receive(requestId, wanted, timeoutMs, clock, signal) {
      // A late nack of an earlier window says nothing about this one.
      const nackOfThisWindow = () => (lastNack?.requestId === requestId ? lastNack.nack : null);
      return new Promise((resolve) => {
        const finish = () => {
          clock.clearTimeout(timer);
          wake = null;
          signal?.removeEventListener('abort', finish);
          resolve({ nack: nackOfThisWindow() });
        };
        const timer = clock.setTimeout(finish, timeoutMs);
        wake = () => {
          if (fatal || nackOfThisWindow() !== null || wanted.every((i) => partial.done.has(i))) finish();
        };
        signal?.addEventListener('abort', finish, { once: true });
        wake();
      });
    },
    throwIfFatal() {
      if (fatal) throw fatal;
    },
    corrupt: () => corrupt,
    lastRefusal: () => refusal,
    close: unlisten,
  };
}

type ChunkCheck =
  | 'ok'
  | 'out-of-range'
  | 'damaged'
  | { readonly reason: Extract<DeployFailureReason, 'size-mismatch' | 'digest-mismatch'>; readonly detail: string };

/** A chunk against its own digest (damaged on the way?) and against the signed manifest (the wrong bytes?). */
export function checkChunk(
  message: Pick<Chunk, 'index' | 'data' | 'chunkSha256'>,
  artifact: Pick<ArtifactLayout, 'chunkCount' | 'chunkSize' | 'size' | 'chunks'> & {
    readonly encodedSize?: number | undefined;
  },
): ChunkCheck {
  const { index, data } = message;
  if (index >= artifact.chunkCount) return 'out-of-range';
  const actual = sha256Hex(data);
  if (actual !== message.chunkSha256) return 'damaged';
  // Chunks cut the bytes that travel: the encoded file when the manifest names an encoding [EF-PROTO 6.3].
  const { start, end } = chunkRange(index, artifact.chunkSize, transferSizeOf(artifact));
  if (data.byteLength !== end - start)
    return { reason: 'size-mismatch', detail: `${data.byteLength} bytes where the manifest implies ${end - start}` };
  const expected = artifact.chunks[index];
  if (actual !== expected)
    return {
      reason: 'digest-mismatch',
      detail: `sha256 ${actual.slice(0, 12)}… where the manifest says ${expected?.slice(0, 12)}…`,
    };
  return 'ok';
}
