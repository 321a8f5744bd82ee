/**
 * Deployment messages [EF-PROTO 6]: the signed desired-state manifest, chunk requests and
 * chunk responses, and the agent's deployment reports.
 *
 * The manifest body is a strict object (no unknown keys, no defaults), so the object an agent
 * parses is exactly the object the server signed: canonicalJson of both is the same bytes.
 */
import * as z from 'zod';
import {
  MAX_CHUNK_BYTES,
  MAX_CHUNK_WINDOW,
  MAX_GOLDEN_BYTES,
  MAX_MANIFEST_CHUNKS,
  MIN_CHUNK_BYTES,
} from '../limits.js';
import {
  base64DecodedBytes,
  describeGoldenLimit,
  goldenRowBytes,
  MAX_GOLDEN_LABEL,
  MAX_GOLDEN_ROWS,
} from '../golden.js';
import { classNameSchema, deviceIdSchema, epochMsSchema, header, sha256HexSchema } from './common.js';

/** Ids of deployments, rollouts and variants: 1–128 chars, no whitespace or MQTT wildcards. */
export const deployIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/, 'id: 1–128 of A-Z a-z 0-9 _ . : @ -');
const base64Schema = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')
  .refine((s) => s.length % 4 === 0, 'base64 length must be a multiple of 4');
const keyIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'key id: 16 lowercase hex digits');

/** How the artifact is cut; see describeArtifact() in shared/src/chunks.ts [EF-PROTO 6.3]. */
export const artifactLayoutSchema = z
  .strictObject({
    /** sha256 of the whole model file (decoded, when the bytes travel encoded). */
    sha256: sha256HexSchema,
    /** Bytes of the model file (decoded). */
    size: z.number().int().positive(),
    chunkSize: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
    chunkCount: z.number().int().positive().max(MAX_MANIFEST_CHUNKS),
    /** sha256 of each chunk of the bytes that travel, by index; length = chunkCount. */
    chunks: z.array(sha256HexSchema).max(MAX_MANIFEST_CHUNKS),
    /** How the bytes travel; absent: as they are. The agent decodes while it verifies `sha256` and `size`. */
    encoding: z.literal('gzip').optional(),
    /** Bytes that travel when `encoding` is set; the chunks cut these. */
    encodedSize: z.number().int().positive().optional(),
    /** Optional HTTP(S) URL of the same bytes, checked against `sha256` and `size` the same way. */
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
  })
  .refine((a) => (a.encoding === undefined) === (a.encodedSize === undefined), 'encoding and encodedSize go together')
  .refine(
    (a) => a.chunks.length === a.chunkCount && a.chunkCount === Math.ceil((a.encodedSize ?? a.size) / a.chunkSize),
    'chunkCount must equal ceil((encodedSize ?? size) / chunkSize) and the length of chunks',
  );

/**
 * A float32 tensor: row-major data as base64 of little-endian float32. Its size is bounded by
 * the golden set's total (goldenSetSchema), whose refusal says how many rows fit; the transports
 * bound it before that (256 KiB API bodies and MQTT payloads).
 */
export const base64TensorSchema = z.strictObject({
  dims: z.array(z.number().int().nonnegative()).min(1).max(8),
  data: base64Schema,
});

/**
 * The smoke test run before a swap [EF-PROTO 6.5]: a small batch of inputs, the expected
 * top-1 label of each row of `output` (argmax over its last axis), and the least accuracy
 * that passes. All inputs together hold at most MAX_GOLDEN_BYTES of float32 (96 KiB: 31
 * MNIST images); the refusal says how many rows of this golden set's size fit.
 */
export const goldenSetSchema = z
  .strictObject({
    /** One tensor per model input; the first axis is the batch. */
    inputs: z.record(z.string().min(1).max(128), base64TensorSchema),
    /** Output to score; default: the model's first output. */
    output: z.string().min(1).max(128).optional(),
    labels: z.array(z.number().int().nonnegative().max(MAX_GOLDEN_LABEL)).min(1).max(MAX_GOLDEN_ROWS),
    /** Fraction of rows whose argmax must equal the label, 0..1. */
    minAccuracy: z.number().min(0).max(1),
  })
  .superRefine((g, ctx) => {
    const total = Object.values(g.inputs).reduce((n, t) => n + base64DecodedBytes(t.data), 0);
    if (total <= MAX_GOLDEN_BYTES) return;
    const rows = g.labels.length;
    ctx.addIssue({
      code: 'custom',
      path: ['inputs'],
      message:
        `the golden set holds ${rows} rows, ${total.toLocaleString('en-US')} bytes of input data; ` +
        describeGoldenLimit(goldenRowBytes(g.inputs)),
    });
  });
export type GoldenSet = z.infer<typeof goldenSetSchema>;

/** Class budgets carried for the agent's budget watcher (issue 7); extra keys pass through. */
export const manifestBudgetsSchema = z.looseObject({
  latencyP95Ms: z.number().positive().optional(),
  powerW: z.number().positive().optional(),
  minAccuracy: z.number().min(0).max(1).optional(),
});

/** The signed part of a manifest [EF-PROTO 6.2]. */
export const manifestBodySchema = z.strictObject({
  /** The device this manifest is for; an agent refuses a manifest naming another device. */
  deviceId: deviceIdSchema,
  deviceClass: classNameSchema,
  /** One device's deployment of one variant; reports refer to it. */
  deploymentId: deployIdSchema,
  rolloutId: deployIdSchema,
  /** `rollout` installs a new variant; `rollback` reinstates an earlier one after an abort. */
  purpose: z.enum(['rollout', 'rollback']),
  variantId: deployIdSchema,
  format: z.literal('onnx'),
  artifact: artifactLayoutSchema,
  golden: goldenSetSchema,
  budgets: manifestBudgetsSchema.optional(),
  /** What the device should have run before; a rollback targets it. Null for a first deployment. */
  previous: z.strictObject({ variantId: deployIdSchema, sha256: sha256HexSchema }).nullable(),
  issuedAt: epochMsSchema,
  /** Id of the signing key (first 16 hex of sha256 of its raw public key). */
  keyId: keyIdSchema,
});
export type ManifestBody = z.infer<typeof manifestBodySchema>;

/**
 * Retained on `…/desired`, QoS 1. `signature` is Ed25519 over canonicalJson(body), base64;
 * it is optional in the schema so that an unsigned manifest reaches the agent and is
 * rejected with an event naming the reason rather than silently as a schema error.
 */
export const desiredSchema = z.strictObject({
  ...header('desired'),
  deviceId: deviceIdSchema,
  body: manifestBodySchema,
  signature: base64Schema.max(128).optional(),
});
export type Desired = z.infer<typeof desiredSchema>;

/**
 * Device → server on `chunk-req`, QoS 1: send chunks `offset .. offset+count-1` of the
 * deployment's artifact, only those whose bit is set when `bitmap` is given [EF-PROTO 6.4].
 */
export const chunkRequestSchema = z.strictObject({
  ...header('chunk-req'),
  deviceId: deviceIdSchema,
  deploymentId: deployIdSchema,
  /** The artifact's sha256, so a server never answers with bytes of another artifact. */
  sha256: sha256HexSchema,
  /** Increases per request of one deployment; echoed by chunk replies. */
  requestId: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  count: z.number().int().min(1).max(MAX_CHUNK_WINDOW),
  /** base64, LSB-first: bit i asks for chunk offset+i. */
  bitmap: base64Schema.max(Math.ceil(MAX_CHUNK_WINDOW / 8 / 3) * 4 + 4).optional(),
  sentAt: epochMsSchema,
});
export type ChunkRequest = z.infer<typeof chunkRequestSchema>;

/**
 * Server → device on `chunks`, QoS 1, never retained: one chunk, with its own sha256
 * [EF-PROTO 6.4]. It travels as a binary frame (messages/chunk-frame.ts): every field but
 * `data` in a small JSON header, then the raw bytes, so `data` is bytes here, never base64.
 * A JSON payload of type `chunk` therefore fails this schema.
 */
export const chunkSchema = z
  .strictObject({
    ...header('chunk'),
    deviceId: deviceIdSchema,
    deploymentId: deployIdSchema,
    sha256: sha256HexSchema,
    requestId: z.number().int().nonnegative(),
    index: z.number().int().nonnegative(),
    /** sha256 of `data`. */
    chunkSha256: sha256HexSchema,
    /** Bytes of `data`, declared in the header so a frame cut short or padded is caught. */
    size: z.number().int().min(1).max(MAX_CHUNK_BYTES),
    // z.custom, not z.instanceof: the bytes are a view into the MQTT packet, whose buffer type TS does not pin to
    // ArrayBuffer.
    data: z.custom<Uint8Array>((v) => v instanceof Uint8Array, {
      message: 'data: raw bytes after the frame header (a chunk travels as a binary frame, not JSON)',
    }),
    sentAt: epochMsSchema,
  })
  .refine((c) => c.data.byteLength === c.size, {
    message: "data length does not match the header's size",
    path: ['data'],
  });
export type Chunk = z.infer<typeof chunkSchema>;

/** Why a server did not answer a chunk request with data. */
export const CHUNK_NACK_REASONS = ['unknown-deployment', 'unknown-artifact', 'busy', 'bad-request'] as const;

/** Server → device on `chunks`: the request cannot be served (now). */
export const chunkNackSchema = z.strictObject({
  ...header('chunk-nack'),
  deviceId: deviceIdSchema,
  deploymentId: deployIdSchema,
  requestId: z.number().int().nonnegative(),
  reason: z.enum(CHUNK_NACK_REASONS),
  /** For `busy`: ask again after this many ms (the server bounds concurrent downloads). */
  retryAfterMs: z.number().int().nonnegative().max(3_600_000).optional(),
  detail: z.string().max(500).optional(),
  sentAt: epochMsSchema,
});
export type ChunkNack = z.infer<typeof chunkNackSchema>;

/** States a device deployment passes through; the last three are terminal [EF-PROTO 6.6]. */
export const DEPLOY_STATES = [
  'downloading',
  'verifying',
  'loading',
  'smoke-testing',
  'switched',
  'succeeded',
  'failed',
  'rolled-back',
] as const;
export type DeployState = (typeof DEPLOY_STATES)[number];
export const TERMINAL_DEPLOY_STATES: ReadonlySet<DeployState> = new Set(['succeeded', 'failed', 'rolled-back']);

/** Steps of the agent's swap, in order; a failure names one of them. */
export const SWAP_STEPS = [
  'authenticate',
  'download',
  'verify',
  'load',
  'warm-up',
  'smoke-test',
  'switch',
  'persist',
] as const;
export type SwapStep = (typeof SWAP_STEPS)[number];

/** Why a deployment failed; stable strings the server aggregates by. */
export const DEPLOY_FAILURE_REASONS = [
  'unsigned',
  'unknown-key',
  'bad-signature',
  'wrong-device',
  'bad-manifest',
  'digest-mismatch',
  'size-mismatch',
  'download-timeout',
  'download-refused',
  'storage',
  'load-error',
  'worker-crash',
  'run-error',
  'non-finite-output',
  'accuracy-below-minimum',
  'superseded',
] as const;
export type DeployFailureReason = (typeof DEPLOY_FAILURE_REASONS)[number];

/** Device → server on `events`, QoS 1: progress and outcome of one deployment. */
export const deployReportSchema = z.strictObject({
  ...header('deploy-report'),
  deviceId: deviceIdSchema,
  deploymentId: deployIdSchema,
  rolloutId: deployIdSchema,
  variantId: deployIdSchema,
  sha256: sha256HexSchema,
  state: z.enum(DEPLOY_STATES),
  /** Present when state is failed or rolled-back. */
  failure: z
    .strictObject({ step: z.enum(SWAP_STEPS), reason: z.enum(DEPLOY_FAILURE_REASONS), detail: z.string().max(1000) })
    .optional(),
  /** Chunks fetched over the network vs found already verified on disk. */
  chunks: z.strictObject({
    total: z.number().int().nonnegative(),
    fetched: z.number().int().nonnegative(),
    reused: z.number().int().nonnegative(),
    corrupt: z.number().int().nonnegative(),
  }),
  /** Smoke-test accuracy once known. */
  accuracy: z.number().min(0).max(1).optional(),
  /** sha256 of the model serving when the report was sent (null: none). */
  serving: sha256HexSchema.nullable(),
  sentAt: epochMsSchema,
});
export type DeployReport = z.infer<typeof deployReportSchema>;
