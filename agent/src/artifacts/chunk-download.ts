/**
 * Pull-based, resumable chunk download over MQTT [EF-PROTO 6.4], as a loop of four steps:
 *
 * 1. plan the next window: the first missing chunk and up to `windowChunks` missing ones after it;
 * 2. request it (while the link is offline, wait with backoff: offline is not a stall);
 * 3. receive until the window is complete, a nack comes, something fatal happens or it times out:
 *    each chunk is checked against the signed manifest and written into the part file;
 * 4. flush (one datasync for the window, then the bitmap) and decide: go on, wait because the
 *    server is busy, back off after a window without progress, or give up after too many.
 *
 * The part file and its bitmap (partial-file.ts) make the download resumable: chunks the bitmap
 * lists are never fetched again; a crash loses at most the chunks of the window in flight.
 */
import {
  encodeWindowBitmap,
  isEdgefleetError,
  MAX_CHUNK_WINDOW,
  PROTOCOL_VERSION,
  type Chunk,
  type ChunkNack,
  type ChunkRequest,
  type Clock,
  type ManifestBody,
  type RandomSource,
} from '@edgefleet/shared/device';
import { backoffDelay, validateBackoff, type BackoffPolicy } from '../link/backoff.js';
import { stepFailure } from './failure.js';
import { receiveChunks, type ChunkReceiver, type WindowOutcome } from './chunk-receiver.js';
import { openPartialFile, type PartialFile } from './partial-file.js';
import type { ArtifactStore } from './store.js';
import { verifyAndAdopt } from './verify.js';

/** How the downloader talks to the server: publish a request, hear chunk replies. */
export interface ChunkTransport {
  /** Publishes on `chunk-req`; rejects with EF_ERR_LINK_OFFLINE while offline. */
  request(request: ChunkRequest): Promise<void>;
  /** Receives every `chunk` and `chunk-nack` for this device; returns an unsubscribe. */
  listen(handler: (message: Chunk | ChunkNack) => void): () => void;
}

export interface ChunkDownloadOptions {
  readonly deviceId: string;
  readonly store: ArtifactStore;
  readonly transport: ChunkTransport;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Chunks per request, 1–32. Default 8. */
  readonly windowChunks?: number;
  /** How long to wait for a window's chunks before asking again, in ms. Default 10 000. */
  readonly windowTimeoutMs?: number;
  /** Windows in a row without progress before giving up. Default 6. */
  readonly maxStalls?: number;
  /** Backoff between stalled windows and while offline. Default 500 ms ×2 up to 15 s, jitter 0.5. */
  readonly backoff?: BackoffPolicy;
  /** Times one chunk may arrive well-formed but not matching the manifest before the artifact is refused. Default 3. */
  readonly maxMismatchesPerChunk?: number;
  readonly signal?: AbortSignal;
}

export interface DownloadCounts {
  readonly total: number;
  readonly fetched: number;
  readonly reused: number;
  readonly corrupt: number;
}

const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 500, factor: 2, maxMs: 15_000, jitter: 0.5 });

/** The options with their defaults applied. */
interface Tuning {
  readonly window: number;
  readonly timeoutMs: number;
  readonly maxStalls: number;
  readonly maxMismatches: number;
  readonly backoff: BackoffPolicy;
}

function tuningOf(options: ChunkDownloadOptions): Tuning {
  return {
    window: Math.min(MAX_CHUNK_WINDOW, Math.max(1, options.windowChunks ?? 8)),
    timeoutMs: options.windowTimeoutMs ?? 10_000,
    maxStalls: options.maxStalls ?? 6,
    maxMismatches: options.maxMismatchesPerChunk ?? 3,
    backoff: validateBackoff(options.backoff ?? DEFAULT_BACKOFF),
  };
}

/**
 * Downloads the manifest's artifact into the store (or finds it there) and returns how many
 * chunks came over the network vs from disk. Throws a step failure (see failure.ts) on a
 * timeout, a refusal, or bytes that do not match the signed manifest.
 */
export async function downloadChunks(body: ManifestBody, options: ChunkDownloadOptions): Promise<DownloadCounts> {
  const { store } = options;
  const { sha256, chunkCount } = body.artifact;
  if (await store.has(sha256)) return { total: chunkCount, fetched: 0, reused: chunkCount, corrupt: 0 };
  const tuning = tuningOf(options);
  const partial = await openPartialFile(store, body.artifact);
  const receiver = receiveChunks(body, partial, options.transport, tuning.maxMismatches);
  try {
    await fetchMissing(body, partial, receiver, options, tuning);
  } finally {
    receiver.close();
    // Keeps what a superseded or failed attempt already verified, for the next attempt.
    await partial.close();
  }
  await verifyAndAdopt(body.artifact, store);
  return { total: chunkCount, fetched: partial.written(), reused: partial.resumed, corrupt: receiver.corrupt() };
}

/**
 * Request ids count up across every download of this process, not per attempt: a nack is
 * matched to its window by id (chunk-receiver.ts), so a late nack of an earlier attempt at the
 * same deployment must not carry an id of the current one.
 */
let nextRequestId = 0;

/** Steps 1–4 until every chunk is done; throws the step failure that ends the attempt. */
async function fetchMissing(
  body: ManifestBody,
  partial: PartialFile,
  receiver: ChunkReceiver,
  options: ChunkDownloadOptions,
  tuning: Tuning,
): Promise<void> {
  const { clock, signal, random } = options;
  const { chunkCount } = body.artifact;
  let offlineAttempt = 0;
  let stalls = 0;
  while (partial.done.size < chunkCount) {
    if (signal?.aborted) throw stepFailure('download', 'superseded', 'a newer manifest replaced this deployment');
    receiver.throwIfFatal();
    const wanted = planWindow(partial.done, chunkCount, tuning.window);
    const request = windowRequest(body, options.deviceId, wanted, nextRequestId++, clock.now());
    if (!(await sendRequest(options.transport, request))) {
      await sleep(clock, backoffDelay(offlineAttempt++, tuning.backoff, random), signal);
      continue;
    }
    offlineAttempt = 0;
    const before = partial.done.size;
    const outcome = await receiver.receive(request.requestId, wanted, tuning.timeoutMs, clock, signal);
    await partial.flush();
    receiver.throwIfFatal();
    const next = afterWindow({ ...outcome, progressed: partial.done.size > before }, stalls, tuning.maxStalls);
    if (next.kind === 'give-up')
      throw giveUp(next, receiver.lastRefusal(), `${partial.done.size}/${chunkCount}`, tuning.timeoutMs);
    if (next.kind === 'wait') await sleep(clock, next.ms, signal);
    else stalls = next.kind === 'next' ? 0 : next.stalls;
    if (next.kind === 'back-off') await sleep(clock, backoffDelay(next.stalls - 1, tuning.backoff, random), signal);
  }
}

/** Step 1: the first missing chunk and up to `window` missing ones within one protocol window of it. */
export function planWindow(done: ReadonlySet<number>, chunkCount: number, window: number): number[] {
  let first = 0;
  while (first < chunkCount && done.has(first)) first += 1;
  const end = Math.min(first + MAX_CHUNK_WINDOW, chunkCount);
  const wanted: number[] = [];
  for (let i = first; i < end && wanted.length < window; i += 1) if (!done.has(i)) wanted.push(i);
  return wanted;
}

/** The `chunk-req` for `wanted` (ascending, non-empty): its span and a bitmap of the chunks in it. */
function windowRequest(
  body: ManifestBody,
  deviceId: string,
  wanted: readonly number[],
  requestId: number,
  now: number,
): ChunkRequest {
  const first = wanted[0] ?? 0;
  const count = (wanted[wanted.length - 1] ?? first) + 1 - first;
  return {
    type: 'chunk-req',
    v: PROTOCOL_VERSION,
    deviceId,
    deploymentId: body.deploymentId,
    sha256: body.artifact.sha256,
    requestId,
    offset: first,
    count,
    bitmap: encodeWindowBitmap(first, wanted, count),
    sentAt: now,
  };
}

/** Step 2: false while the link is offline (the caller waits and tries again); other errors throw. */
async function sendRequest(transport: ChunkTransport, request: ChunkRequest): Promise<boolean> {
  try {
    await transport.request(request);
    return true;
  } catch (err: unknown) {
    if (isEdgefleetError(err, 'EF_ERR_LINK_OFFLINE')) return false;
    throw err;
  }
}

type NextStep =
  | { readonly kind: 'next' }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'back-off'; readonly stalls: number }
  | { readonly kind: 'give-up'; readonly stalls: number; readonly reason: 'download-refused' | 'download-timeout' };

/**
 * Step 4's decision: a busy server is waited for as long as it asks; a window with progress
 * is followed by the next at once; one without backs off, and `maxStalls` of them in a row end
 * the attempt (refused when the server said it does not know the deployment).
 */
export function afterWindow(
  outcome: WindowOutcome & { readonly progressed: boolean },
  stalls: number,
  maxStalls: number,
): NextStep {
  const { nack } = outcome;
  if (nack !== null && nack !== 'unknown') return { kind: 'wait', ms: nack.busyMs };
  if (outcome.progressed) return { kind: 'next' };
  if (stalls + 1 < maxStalls) return { kind: 'back-off', stalls: stalls + 1 };
  return { kind: 'give-up', stalls: stalls + 1, reason: nack === 'unknown' ? 'download-refused' : 'download-timeout' };
}

/** The step failure that ends an attempt; a refusal says what the server said (its reason and detail). */
function giveUp(
  next: { readonly stalls: number; readonly reason: 'download-refused' | 'download-timeout' },
  refusal: string | null,
  have: string,
  timeoutMs: number,
): Error {
  const why =
    next.reason === 'download-refused'
      ? `the server refused the download (${refusal ?? 'no detail'})`
      : `no chunk arrived in ${next.stalls} windows of ${timeoutMs} ms`;
  return stepFailure('download', next.reason, `${why}; ${have} chunks are kept on disk for the next attempt`);
}

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clock.clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
