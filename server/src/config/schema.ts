import { z } from 'zod';
import { DEFAULT_KEEPALIVE_S, DEFAULT_MAX_PAYLOAD_BYTES } from '@edgefleet/shared';
import { controlPolicySchema } from '../control/policy.js';

/**
 * Accepts a number, or a string that spells one (env values are strings); anything else is
 * left alone so zod reports "expected number" with the offending path.
 */
function numeric<T extends z.ZodNumber>(schema: T) {
  return z.preprocess((value) => {
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
    return value;
  }, schema);
}

const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const brokerUrlSchema = z.string().refine((value) => {
  try {
    return ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'broker must be a URL such as mqtt://host:1883');

/**
 * The control server's whole configuration. Parsed once (env < config file < flags, over
 * these defaults) and frozen [STYLE 6].
 */
export const serverConfigSchema = z.strictObject({
  /**
   * Directory holding the SQLite store, artifacts, signing keys and the runtime file (server.json). Default
   * `./.edgefleet`.
   */
  dataDir: z.string().min(1).default('./.edgefleet'),
  /**
   * Where fleet state lives: null (the default) for SQLite in `dataDir`, or a Postgres URL
   * (`postgres://user:password@host:5432/db`) that several server replicas share.
   */
  /**
   * Directory of the files every replica must read: stored models, variant artifacts and the
   * manifest signing keys. Default null: inside `dataDir`. Replicas on a Postgres store point it
   * at one shared directory (one host's disk, or a network file system); `dataDir` stays each
   * replica's own (its runtime file and broker secret).
   */
  sharedDir: z.string().min(1).nullable().default(null),
  /**
   * With a Postgres store: this replica takes variant builds from the job queue (as `edgefleet
   * worker` does). Default true; false leaves builds to dedicated workers.
   */
  buildVariants: z
    .preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean())
    .default(true),
  store: z
    .string()
    .regex(/^postgres(ql)?:\/\//i, 'store must be a Postgres URL such as postgres://user:password@host:5432/edgefleet')
    .nullable()
    .default(null),
  /**
   * External MQTT broker URL (`mqtt://host:port`). Default null: run the embedded aedes
   * broker and connect to it over loopback.
   */
  brokerUrl: brokerUrlSchema.nullable().default(null),
  /**
   * With an external broker: manage its credentials live through mosquitto's dynamic security
   * plugin. `auto` uses it when the broker answers on `$CONTROL/dynamic-security/v1` (else the
   * files of `edgefleet broker-config`), `on` refuses to start without it, `off` never uses it.
   * Default `auto`. Ignored with the embedded broker.
   */
  brokerDynsec: z.enum(['auto', 'on', 'off']).default('auto'),
  /** TCP port of the embedded broker. Default 1883; 0 picks a free port. Ignored with `brokerUrl`. */
  port: numeric(z.number().int().min(0).max(65535)).default(1883),
  /** Interface the embedded broker listens on. Default `0.0.0.0` so devices on the LAN can reach it. */
  host: z.string().min(1).default('0.0.0.0'),
  /**
   * How long the embedded broker waits for a slow subscriber before dropping it, in ms.
   * Default 15000; 0 would let one frozen client stall delivery to all of them.
   */
  drainTimeoutMs: numeric(z.number().int().positive().max(600_000)).default(15_000),
  /** Largest accepted payload for ordinary messages, in bytes. Default 262144 (256 KiB). */
  maxPayloadBytes: numeric(
    z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024),
  ).default(DEFAULT_MAX_PAYLOAD_BYTES),
  presence: z
    .strictObject({
      /**
       * A device silent this long (ms, by the server's clock) is marked offline even if no
       * last will arrived. Default 15000 (1.5 × the agents' default keepalive).
       */
      offlineAfterMs: numeric(z.number().int().positive()).default(DEFAULT_KEEPALIVE_S * 1500),
      /** How often the stale-device sweep runs, in ms. Default 1000. */
      sweepIntervalMs: numeric(z.number().int().positive()).default(1000),
    })
    .prefault({}),
  /** Port of the admin HTTP API. Default 8080; 0 picks a free port; -1 turns the API off. */
  apiPort: numeric(z.number().int().min(-1).max(65535)).default(8080),
  /** Interface the admin API listens on. Default `0.0.0.0`. */
  apiHost: z.string().min(1).default('0.0.0.0'),
  /** Largest ONNX model `POST /v1/models` accepts, bytes. Default 268435456 (256 MiB). */
  apiMaxModelBytes: numeric(
    z
      .number()
      .int()
      .min(1024)
      .max(2 * 1024 * 1024 * 1024),
  ).default(256 * 1024 * 1024),
  /**
   * Folder of the built web console, served under `/ui` on the API port. Default: the
   * `dist/` folder of the `@edgefleet/console` package (built by `npm install`); when it is
   * missing, `/ui` answers EF_ERR_CONSOLE_NOT_BUILT and the API works as before.
   */
  consoleDir: z.string().min(1).nullable().default(null),
  /**
   * TLS for the embedded broker (mqtts on `port`) and the admin API (https). Give both
   * files (PEM) or neither. Default: none (plain TCP and HTTP).
   */
  tls: z
    .strictObject({
      /** PEM certificate (chain) file. */
      certFile: z.string().min(1).nullable().default(null),
      /** PEM private key file. */
      keyFile: z.string().min(1).nullable().default(null),
    })
    .prefault({})
    .refine(
      (tls) => (tls.certFile === null) === (tls.keyFile === null),
      'give both tls.certFile and tls.keyFile, or neither',
    ),
  auth: z
    .strictObject({
      /**
       * Admin tokens on the API and per-device credentials and topic permissions on the
       * embedded broker. Default true. false restores an open broker and API: only for
       * tests and throw-away demos on a trusted machine.
       */
      enabled: z
        .preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean())
        .default(true),
      /** Admin API requests per token (or per address without one): burst size. Default 100. */
      apiBurst: numeric(z.number().int().min(1)).default(100),
      /** …refilled at this rate per second. Default 20. */
      apiRatePerS: numeric(z.number().positive()).default(20),
      /** MQTT CONNECTs per remote address: burst size. Default 500 (a farm on one host). */
      connectBurst: numeric(z.number().int().min(1)).default(500),
      /** …refilled at this rate per second. Default 50. */
      connectRatePerS: numeric(z.number().positive()).default(50),
    })
    .prefault({}),
  control: z
    .strictObject({
      /** Run the closed loop (observe → decide → act) in the server. Default true. */
      enabled: z
        .preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean())
        .default(true),
      /** Seconds between control ticks (1–3600); breach events reconcile at once in between. Default 30. */
      tickSeconds: numeric(z.number().int().min(1).max(3600)).default(30),
      /**
       * The loop's policy (hysteresis, cooldown, caps…; see server/src/control/policy.ts). Default: every field's
       * default.
       */
      policy: controlPolicySchema.prefault({}),
    })
    .prefault({}),
  log: z
    .strictObject({
      /** pino level. Default `info`. */
      level: logLevelSchema.default('info'),
    })
    .prefault({}),
});

export type ServerConfig = z.infer<typeof serverConfigSchema>;
/** What callers may pass before defaults are applied. */
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/**
 * Environment variables the server reads, and the config path each one sets. Nothing else in
 * the code reads `process.env` for configuration; the README lists these (a test checks).
 */
export const CONFIG_ENV_VARS = {
  EDGEFLEET_DATA_DIR: 'dataDir',
  EDGEFLEET_STORE: 'store',
  EDGEFLEET_SHARED_DIR: 'sharedDir',
  EDGEFLEET_BUILD_VARIANTS: 'buildVariants',
  EDGEFLEET_BROKER: 'brokerUrl',
  EDGEFLEET_BROKER_DYNSEC: 'brokerDynsec',
  EDGEFLEET_PORT: 'port',
  EDGEFLEET_HOST: 'host',
  EDGEFLEET_DRAIN_TIMEOUT_MS: 'drainTimeoutMs',
  EDGEFLEET_MAX_PAYLOAD_BYTES: 'maxPayloadBytes',
  EDGEFLEET_OFFLINE_AFTER_MS: 'presence.offlineAfterMs',
  EDGEFLEET_SWEEP_INTERVAL_MS: 'presence.sweepIntervalMs',
  EDGEFLEET_LOG_LEVEL: 'log.level',
  EDGEFLEET_API_PORT: 'apiPort',
  EDGEFLEET_API_HOST: 'apiHost',
  EDGEFLEET_CONSOLE_DIR: 'consoleDir',
  EDGEFLEET_TLS_CERT: 'tls.certFile',
  EDGEFLEET_TLS_KEY: 'tls.keyFile',
  EDGEFLEET_AUTH: 'auth.enabled',
  EDGEFLEET_CONTROL: 'control.enabled',
  EDGEFLEET_CONTROL_TICK_SECONDS: 'control.tickSeconds',
} as const satisfies Record<string, string>;

/** Env var naming the optional JSON config file (the `--config` flag wins over it). */
export const CONFIG_FILE_ENV_VAR = 'EDGEFLEET_CONFIG';
