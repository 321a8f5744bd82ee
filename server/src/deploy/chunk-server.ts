/**
 * The production chunk server [EF-PROTO 6.4]: answers `chunk-req` from devices with the
 * requested chunks of the artifact their deployment names, on the device's own `chunks`
 * topic, QoS 1, never retained. Stateless per transfer: each request carries deployment id,
 * artifact sha256 and window, and is checked against the store (the deployment must belong
 * to the requesting device and name that artifact), so a server restart loses nothing.
 *
 * Requests arrive decoded (the inbound router counted the ones that did not decode). Requests
 * that decode but cannot be served never crash the server: they are counted by reason and
 * answered with `chunk-nack`, which the device can act on.
 */
import {
  chunkRange,
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  requestedIndices,
  sha256Hex,
  asError,
  stripUndefined,
  transferSizeOf,
  type ChunkNack,
  type ChunkRequest,
  type ArtifactLayout,
} from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import type { Logger } from '../log/logger.js';
import type { RolloutRepository } from '../store/rollouts.js';
import type { ServerArtifactStore } from './artifact-store.js';
import { createDownloadSlots, type DownloadSlots, type DownloadSlotsOptions } from './download-slots.js';

export interface ChunkServerOptions {
  readonly publish: BrokerClient['publish'];
  readonly artifacts: ServerArtifactStore;
  readonly rollouts: Pick<RolloutRepository, 'deploymentTarget'>;
  readonly logger: Logger;
  readonly now: () => number;
  readonly slots?: DownloadSlotsOptions;
}

export interface ChunkServerStats {
  readonly requests: number;
  readonly chunksSent: number;
  /** Bytes of chunk data sent (frame prefix and headers not counted). */
  readonly bytesSent: number;
  readonly nacks: Readonly<Record<ChunkNack['reason'], number>>;
  readonly slots: ReturnType<DownloadSlots['stats']>;
}

export interface ChunkServer {
  /** Takes one decoded request from the inbound router and answers it in the background. Never throws. */
  accept(request: ChunkRequest): void;
  /** Answers one decoded request (tests and benchmarks await it directly). */
  handleRequest(request: ChunkRequest): Promise<void>;
  /** Frees a device's download slot (its deployment left the download phase). */
  release(deviceId: string): void;
  stats(): ChunkServerStats;
}

export function createChunkServer(options: ChunkServerOptions): ChunkServer {
  const log = options.logger;
  const slots = createDownloadSlots(options.slots);
  const nacks: Record<ChunkNack['reason'], number> = {
    'unknown-deployment': 0,
    'unknown-artifact': 0,
    busy: 0,
    'bad-request': 0,
  };
  let requests = 0;
  let chunksSent = 0;
  let bytesSent = 0;

  async function nack(
    req: ChunkRequest,
    reason: ChunkNack['reason'],
    detail: string,
    retryAfterMs?: number,
  ): Promise<void> {
    nacks[reason] += 1;
    if (reason !== 'busy')
      log.debug({ deviceId: req.deviceId, deploymentId: req.deploymentId, reason, detail }, 'chunk request refused');
    const message: ChunkNack = {
      type: 'chunk-nack',
      v: PROTOCOL_VERSION,
      deviceId: req.deviceId,
      deploymentId: req.deploymentId,
      requestId: req.requestId,
      reason,
      detail: detail.slice(0, 500),
      sentAt: options.now(),
      ...stripUndefined({ retryAfterMs }),
    };
    await options.publish(deviceTopic(req.deviceId, 'chunks'), encodeMessage(message), { qos: 1 });
  }

  /**
   * `chunkSha256` must be the digest of the bytes actually sent, so an artifact file damaged
   * or tampered with after it was stored reaches the agent as self-consistent chunks that do
   * not match the signed manifest, and the agent refuses it by name (`digest-mismatch`). Each
   * chunk is hashed once per buffer the artifact store hands out, not once per send.
   */
  const digestCache = new WeakMap<Buffer, Map<number, string>>();
  const damagedLogged = new Set<string>();

  function digestOf(bytes: Buffer, index: number, data: Buffer, recorded: string | undefined, sha256: string): string {
    let digests = digestCache.get(bytes);
    if (!digests) {
      digests = new Map<number, string>();
      digestCache.set(bytes, digests);
    }
    const known = digests.get(index);
    if (known !== undefined) return known;
    const digest = sha256Hex(data);
    digests.set(index, digest);
    if (digest !== recorded && !damagedLogged.has(sha256)) {
      damagedLogged.add(sha256);
      log.error(
        { sha256, index },
        'artifact file no longer matches its recorded layout; agents will refuse it (digest-mismatch). Store the ' +
          'model again',
      );
    }
    return digest;
  }

  async function handleRequest(req: ChunkRequest): Promise<void> {
    requests += 1;
    const target = await options.rollouts.deploymentTarget(req.deploymentId);
    if (!target || target.deviceId !== req.deviceId)
      return nack(req, 'unknown-deployment', `deployment ${req.deploymentId} is not assigned to ${req.deviceId}`);
    if (target.sha256 !== req.sha256)
      return nack(
        req,
        'unknown-artifact',
        `deployment ${req.deploymentId} names artifact ${target.sha256}, not ${req.sha256}`,
      );
    let layout: ArtifactLayout;
    try {
      layout = await options.artifacts.layout(req.sha256);
    } catch (err: unknown) {
      return nack(req, 'unknown-artifact', asError(err).message);
    }
    const indices = requestedIndices(req);
    const outside = indices.find((i) => i >= layout.chunkCount);
    if (indices.length === 0 || outside !== undefined)
      return nack(req, 'bad-request', `window asks for chunk ${outside ?? 'none'} of ${layout.chunkCount}`);
    const wait = slots.acquire(req.deviceId, options.now());
    if (wait !== null) return nack(req, 'busy', 'the server is serving its maximum of concurrent downloads', wait);
    let bytes: Buffer;
    try {
      // With an encoding the chunks cut the encoded file [EF-PROTO 6.3].
      bytes = await options.artifacts.transferBytes(req.sha256);
    } catch (err: unknown) {
      // The file went missing since the layout was recorded.
      slots.release(req.deviceId, options.now());
      return nack(req, 'unknown-artifact', asError(err).message);
    }
    const topic = deviceTopic(req.deviceId, 'chunks');
    const sends: Promise<void>[] = [];
    for (const index of indices) {
      const { start, end } = chunkRange(index, layout.chunkSize, transferSizeOf(layout));
      const data = bytes.subarray(start, end);
      chunksSent += 1;
      bytesSent += data.byteLength;
      const chunkSha256 = digestOf(bytes, index, data, layout.chunks[index], req.sha256);
      sends.push(
        options.publish(
          topic,
          encodeMessage({
            type: 'chunk',
            v: PROTOCOL_VERSION,
            deviceId: req.deviceId,
            deploymentId: req.deploymentId,
            sha256: req.sha256,
            requestId: req.requestId,
            index,
            chunkSha256,
            size: data.byteLength,
            data,
            sentAt: options.now(),
          }),
          { qos: 1 },
        ),
      );
    }
    await Promise.all(sends);
  }

  return {
    accept(request) {
      handleRequest(request).catch((err: unknown) =>
        log.warn({ err, deviceId: request.deviceId }, 'chunk request failed'),
      );
    },
    handleRequest,
    release: (deviceId) => slots.release(deviceId, options.now()),
    stats: () => ({ requests, chunksSent, bytesSent, nacks: { ...nacks }, slots: slots.stats() }),
  };
}
