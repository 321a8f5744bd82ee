import * as z from 'zod';
import {
  classNameSchema,
  ENROLL_TOKEN_PATTERN,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_KEEPALIVE_S,
  deviceIdSchema,
  parseTrustedKey,
} from '@edgefleet/shared/device';

/** Accepts numbers spelled as strings (env values and flags are strings); anything else is left for zod to report. */
function numeric<T extends z.ZodType>(schema: T) {
  return z.preprocess(
    (value) =>
      typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value,
    schema,
  );
}

const brokerUrlSchema = z.string().refine((value) => {
  try {
    return ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'broker must be a URL such as mqtt://host:1883');

/** Accepts a comma-separated string (env values and flags) as a list. */
function list<T extends z.ZodType>(schema: T) {
  return z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((v) => v.trim())
            .filter((v) => v !== '')
        : value,
    schema,
  );
}

const trustedKeySchema = z.string().refine((value) => {
  try {
    parseTrustedKey(value);
    return true;
  } catch {
    return false;
  }
}, 'trusted key must be base64 of a raw 32-byte Ed25519 public key (as the server prints it) or an SPKI PEM');

/**
 * The agent's whole configuration: parsed once from defaults < JSON file < `EDGEFLEET_AGENT_*`
 * env < flags, then frozen [STYLE 6].
 */
export const agentConfigSchema = z.strictObject({
  /** Unique id of this device; also the MQTT client id. Default: the host name, made id-safe. */
  deviceId: deviceIdSchema,
  /** Device class the server plans models for. Default `generic`. */
  deviceClass: classNameSchema.default('generic'),
  /** MQTT broker of the control server. Default `mqtt://127.0.0.1:1883`. */
  brokerUrl: brokerUrlSchema.default('mqtt://127.0.0.1:1883'),
  /** Where the agent keeps models and its telemetry outbox. Default `./.edgefleet-agent`. */
  dataDir: z.string().min(1).default('./.edgefleet-agent'),
  /** MQTT keepalive in seconds (the broker declares the device lost after 1.5× this). Default 10. */
  keepaliveS: numeric(z.number().int().min(1).max(3600)).default(DEFAULT_KEEPALIVE_S),
  /** Heartbeat interval in ms. Default 5000. */
  heartbeatMs: numeric(z.number().int().min(100).max(3_600_000)).default(DEFAULT_HEARTBEAT_MS),
  /** Log level. Default `info`. */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Public keys deployment manifests must be signed with; list several during a key rotation. Default none (every
   * manifest is refused).
   */
  trustedKeys: list(z.array(trustedKeySchema).max(16)).default([]),
  /** onnxruntime intra-op threads of the inference worker; 0 lets onnxruntime choose. Default 1. */
  intraOpThreads: numeric(z.number().int().min(0).max(256)).default(1),
  /**
   * Serve a model on the agent's own thread (no worker hop, no second V8 heap) when the median of
   * its batch-1 runs is at most this many ms; 0 keeps every model in a worker. Default 1.
   */
  inlineMaxMs: numeric(z.number().min(0).max(100)).default(1),
  /**
   * Port of the local inference API on 127.0.0.1; 0 picks a free one, -1 turns it off.
   * Default 8787, or no TCP listener when `serveSocket` is given (give both for both).
   */
  servePort: numeric(z.number().int().min(-1).max(65535)).optional(),
  /** Unix socket for the local inference API (alone, or beside `servePort` when that is given). Default: none. */
  serveSocket: z.string().min(1).optional(),
  /** Synthetic inferences per second on the serving model (demos, simulation); 0 turns it off. Default 0. */
  workloadRate: numeric(z.number().min(0).max(10_000)).default(0),
  /**
   * Rows per synthetic inference (the model's batch dimension must allow it), as a device that
   * batches camera crops would run. Default 1.
   */
  workloadBatch: numeric(z.number().int().min(1).max(1024)).default(1),
  /** Length of a telemetry window, seconds. Default 10. */
  telemetryWindowS: numeric(z.number().min(0.5).max(3600)).default(10),
  /**
   * Enrollment token (`efe_…`) from the fleet admin: on first start the agent enrolls with it
   * and stores its identity in the data directory; later starts use the stored identity.
   * Prefer `enrollTokenFile` or the environment: a flag is visible to every user in `ps`.
   * Default: none (stored identity, or no credentials for a server with auth off).
   */
  enrollToken: z
    .string()
    .regex(
      ENROLL_TOKEN_PATTERN,
      'enrollment token: efe_<12 hex>_<43 characters>, as `edgefleet enroll-token create` prints it',
    )
    .optional(),
  /** How long a first start keeps trying to enroll before it exits 1 (systemd restarts it), seconds. Default 120. */
  enrollTimeoutS: numeric(z.number().int().min(1).max(86_400)).default(120),
  /**
   * File whose first line is the enrollment token (e.g. mode 0600,
   * root-owned); used when `enrollToken` is not set. Default: none.
   */
  enrollTokenFile: z.string().min(1).optional(),
  /** How artifacts are fetched: MQTT chunks, or the manifest's HTTP(S) URL when it has one. Default `mqtt`. */
  artifactTransport: z.enum(['mqtt', 'http']).default('mqtt'),
  /**
   * Bytes of partial downloads of failed deployments kept for a retry (newest first, for at
   * most a day); beyond it they are deleted. Models the device no longer points at are always
   * deleted. Default 67108864 (64 MiB).
   */
  maxPartialBytes: numeric(z.number().int().min(0)).default(64 * 1024 * 1024),
});
export type AgentConfig = Readonly<z.infer<typeof agentConfigSchema>>;

/** Env variable → config key. `EDGEFLEET_AGENT_CONFIG` names the JSON file. */
export const AGENT_ENV_VARS: Readonly<Record<string, keyof AgentConfig>> = Object.freeze({
  EDGEFLEET_AGENT_DEVICE_ID: 'deviceId',
  EDGEFLEET_AGENT_CLASS: 'deviceClass',
  EDGEFLEET_AGENT_BROKER: 'brokerUrl',
  EDGEFLEET_AGENT_DATA_DIR: 'dataDir',
  EDGEFLEET_AGENT_KEEPALIVE_S: 'keepaliveS',
  EDGEFLEET_AGENT_HEARTBEAT_MS: 'heartbeatMs',
  EDGEFLEET_AGENT_LOG_LEVEL: 'logLevel',
  EDGEFLEET_AGENT_TRUSTED_KEYS: 'trustedKeys',
  EDGEFLEET_AGENT_INTRA_OP_THREADS: 'intraOpThreads',
  EDGEFLEET_AGENT_INLINE_MAX_MS: 'inlineMaxMs',
  EDGEFLEET_AGENT_SERVE_PORT: 'servePort',
  EDGEFLEET_AGENT_SERVE_SOCKET: 'serveSocket',
  EDGEFLEET_AGENT_WORKLOAD_RATE: 'workloadRate',
  EDGEFLEET_AGENT_WORKLOAD_BATCH: 'workloadBatch',
  EDGEFLEET_AGENT_TELEMETRY_WINDOW_S: 'telemetryWindowS',
  EDGEFLEET_AGENT_ARTIFACT_TRANSPORT: 'artifactTransport',
  EDGEFLEET_AGENT_ENROLL_TOKEN: 'enrollToken',
  EDGEFLEET_AGENT_MAX_PARTIAL_BYTES: 'maxPartialBytes',
  EDGEFLEET_AGENT_ENROLL_TOKEN_FILE: 'enrollTokenFile',
  EDGEFLEET_AGENT_ENROLL_TIMEOUT_S: 'enrollTimeoutS',
});
export const AGENT_CONFIG_FILE_ENV_VAR = 'EDGEFLEET_AGENT_CONFIG';

/** A command-line flag of the agent, shared by `edgefleet-agent` and `edgefleet agent`. */
export interface AgentFlag {
  /** Long name without dashes, e.g. `device-id`. */
  readonly name: string;
  readonly key: keyof AgentConfig | 'config';
  readonly placeholder: string;
  readonly description: string;
}

export const AGENT_FLAGS: readonly AgentFlag[] = Object.freeze([
  {
    name: 'device-id',
    key: 'deviceId',
    placeholder: 'id',
    description: 'unique device id, also the MQTT client id (default: host name; env EDGEFLEET_AGENT_DEVICE_ID)',
  },
  {
    name: 'class',
    key: 'deviceClass',
    placeholder: 'name',
    description: 'device class (default generic; env EDGEFLEET_AGENT_CLASS)',
  },
  {
    name: 'broker',
    key: 'brokerUrl',
    placeholder: 'url',
    description: 'MQTT broker URL (default mqtt://127.0.0.1:1883; env EDGEFLEET_AGENT_BROKER)',
  },
  {
    name: 'data-dir',
    key: 'dataDir',
    placeholder: 'dir',
    description: 'data directory (default ./.edgefleet-agent; env EDGEFLEET_AGENT_DATA_DIR)',
  },
  {
    name: 'keepalive',
    key: 'keepaliveS',
    placeholder: 's',
    description: 'MQTT keepalive in seconds (default 10; env EDGEFLEET_AGENT_KEEPALIVE_S)',
  },
  {
    name: 'heartbeat-ms',
    key: 'heartbeatMs',
    placeholder: 'ms',
    description: 'heartbeat interval in ms (default 5000; env EDGEFLEET_AGENT_HEARTBEAT_MS)',
  },
  {
    name: 'log-level',
    key: 'logLevel',
    placeholder: 'level',
    description: 'fatal|error|warn|info|debug|trace|silent (default info; env EDGEFLEET_AGENT_LOG_LEVEL)',
  },
  {
    name: 'trusted-keys',
    key: 'trustedKeys',
    placeholder: 'k1,k2',
    description:
      'Ed25519 public keys (base64) manifests must be signed with, comma-separated (env EDGEFLEET_AGENT_TRUSTED_KEYS)',
  },
  {
    name: 'intra-op-threads',
    key: 'intraOpThreads',
    placeholder: 'n',
    description:
      'onnxruntime threads per inference; 0 = let onnxruntime choose (default 1; env EDGEFLEET_AGENT_INTRA_OP_THREADS)',
  },
  {
    name: 'inline-max-ms',
    key: 'inlineMaxMs',
    placeholder: 'ms',
    description:
      'serve a model on the agent thread, without a worker, when its median run takes at most this; 0 = always a ' +
      'worker (default 1; env EDGEFLEET_AGENT_INLINE_MAX_MS)',
  },
  {
    name: 'serve-port',
    key: 'servePort',
    placeholder: 'port',
    description:
      'local inference API port on 127.0.0.1; 0 = any free, -1 = off (default 8787, none with only --serve-socket; ' +
      'env EDGEFLEET_AGENT_SERVE_PORT)',
  },
  {
    name: 'serve-socket',
    key: 'serveSocket',
    placeholder: 'path',
    description:
      'serve the local inference API on this Unix socket (with --serve-port too: on both; env ' +
      'EDGEFLEET_AGENT_SERVE_SOCKET)',
  },
  {
    name: 'workload-rate',
    key: 'workloadRate',
    placeholder: 'per-s',
    description: 'synthetic inferences per second for demos; 0 = off (default 0; env EDGEFLEET_AGENT_WORKLOAD_RATE)',
  },
  {
    name: 'workload-batch',
    key: 'workloadBatch',
    placeholder: 'rows',
    description:
      'rows per synthetic inference (the model must take that batch; default 1; env EDGEFLEET_AGENT_WORKLOAD_BATCH)',
  },
  {
    name: 'telemetry-window',
    key: 'telemetryWindowS',
    placeholder: 's',
    description: 'telemetry window length in seconds (default 10; env EDGEFLEET_AGENT_TELEMETRY_WINDOW_S)',
  },
  {
    name: 'artifact-transport',
    key: 'artifactTransport',
    placeholder: 'mqtt|http',
    description:
      'fetch artifacts as MQTT chunks or over the manifest URL (default mqtt; env EDGEFLEET_AGENT_ARTIFACT_TRANSPORT)',
  },
  {
    name: 'max-partial-bytes',
    key: 'maxPartialBytes',
    placeholder: 'bytes',
    description:
      'partial downloads of failed deployments kept for a retry; older ones beyond it are deleted (default 64 MiB; ' +
      'env EDGEFLEET_AGENT_MAX_PARTIAL_BYTES)',
  },
  {
    name: 'enroll-token',
    key: 'enrollToken',
    placeholder: 'token',
    description:
      'enrollment token for the first start; the identity is then kept in the data dir. Visible in ps while the ' +
      'agent starts: prefer --enroll-token-file or env EDGEFLEET_AGENT_ENROLL_TOKEN',
  },
  {
    name: 'enroll-token-file',
    key: 'enrollTokenFile',
    placeholder: 'file',
    description:
      'read the enrollment token from the first line of this file (e.g. mode 0600; env ' +
      'EDGEFLEET_AGENT_ENROLL_TOKEN_FILE)',
  },
  {
    name: 'enroll-timeout',
    key: 'enrollTimeoutS',
    placeholder: 's',
    description:
      'keep retrying enrollment this long before exiting 1 (default 120; env EDGEFLEET_AGENT_ENROLL_TIMEOUT_S)',
  },
  {
    name: 'config',
    key: 'config',
    placeholder: 'file',
    description: 'JSON config file with the same keys as above in camelCase (env EDGEFLEET_AGENT_CONFIG)',
  },
]);
