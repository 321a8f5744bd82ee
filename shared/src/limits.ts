/** Protocol limits shared by the server and the agent [EF-PROTO 5]. */

/** Default largest accepted MQTT payload for ordinary messages: 256 KiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/** Largest artifact chunk on the wire: 128 KiB (AWS IoT's block cap; fits mosquitto 2.1 and EMQX packet limits). */
export const MAX_CHUNK_BYTES = 128 * 1024;

/** Default agent keepalive in seconds; the broker declares a client dead after 1.5× this. */
export const DEFAULT_KEEPALIVE_S = 10;

/** Default heartbeat interval in milliseconds. */
export const DEFAULT_HEARTBEAT_MS = 5_000;

/** Smallest chunk size a manifest may name: 1 KiB (smaller only multiplies per-message overhead). */
export const MIN_CHUNK_BYTES = 1024;

/** Most chunks one manifest may list (2,048 × 128 KiB = 256 MiB); keeps the manifest well under 256 KiB. */
export const MAX_MANIFEST_CHUNKS = 2048;

/** Most chunks one `chunk-req` may ask for [EF-PROTO 6.4]. */
export const MAX_CHUNK_WINDOW = 32;

/**
 * Deepest object/array nesting a JSON payload may have. The deepest message (a signed
 * manifest) nests 5 levels; 32 leaves room for additive fields and stops hostile nesting
 * before anything recursive touches it [EF-PROTO 1].
 */
export const MAX_JSON_DEPTH = 32;

/** Largest golden set carried in a manifest, in bytes of float32 input data (before base64). */
export const MAX_GOLDEN_BYTES = 96 * 1024;

/**
 * Fixed prefix of a binary chunk frame: 4 magic bytes and a big-endian u32 header length
 * [EF-PROTO 6.4]. The frame layout itself is in messages/chunk-frame.ts.
 */
export const CHUNK_FRAME_PREFIX_BYTES = 8;

/** Largest JSON header of a chunk frame; a full header (longest ids) is under 600 bytes. */
export const MAX_CHUNK_FRAME_HEADER_BYTES = 1024;

/**
 * Largest `chunk` message on the wire: a binary frame of prefix, header and 128 KiB of raw
 * data (~129 KiB in all). Only the `chunks` channel may exceed the ordinary limit [EF-PROTO 5].
 */
export const MAX_CHUNK_MESSAGE_BYTES = CHUNK_FRAME_PREFIX_BYTES + MAX_CHUNK_FRAME_HEADER_BYTES + MAX_CHUNK_BYTES;

/**
 * Payload limit for one channel: the configured ordinary limit, except that artifact chunks
 * are always allowed up to {@link MAX_CHUNK_MESSAGE_BYTES} (the issue exempts them).
 */
export function maxPayloadBytesFor(channel: string, ordinaryMax: number = DEFAULT_MAX_PAYLOAD_BYTES): number {
  return channel === 'chunks' ? Math.max(ordinaryMax, MAX_CHUNK_MESSAGE_BYTES) : ordinaryMax;
}

/**
 * What one telemetry window may report [EF-PROTO 8.1]: generous physical ceilings for any
 * edge device, far below what a sum of them could overflow. A figure beyond them is a bug
 * or an attack, refused at the edge (`schema`) rather than summed into the class rollups.
 */
export const TELEMETRY_LIMITS = Object.freeze({
  /** Longest window and `clock.durationMs`: 1 h (agents close one every 10 s). */
  maxWindowMs: 3_600_000,
  /** Inferences (or errors) in one window: 10^9, a million a second for the longest window plus headroom. */
  maxInferences: 1_000_000_000,
  /** Any latency figure: 1 h, ms. */
  maxLatencyMs: 3_600_000,
  /** Modelled class speed factor a simulated device applied. */
  maxSpeedFactor: 1_000,
  /** Average power: 10 kW (an edge box draws tens of watts). */
  maxWatts: 10_000,
  /** Energy per inference: 10^9 mJ (10 kW for 100 s). */
  maxEnergyPerInferenceMj: 1_000_000_000,
  /** Resident or session memory: 16 TiB. */
  maxMemoryBytes: 2 ** 44,
  /** Outbox counters (dropped since creation, pending): 10^12. */
  maxOutboxCount: 1_000_000_000_000,
  /** Breach `measured`/`limit` magnitude (ms, W, mJ or ratio). */
  maxBreachFigure: 1_000_000_000,
});
