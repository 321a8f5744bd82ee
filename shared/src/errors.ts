/**
 * Expected domain failures: one class, stable codes from one catalogue [STYLE 5]. Codes are
 * mapped to HTTP statuses or MQTT replies only at the edges. Programmer errors throw plain
 * `Error`/`TypeError` instead. Add new codes here, in their area, and to the README's list.
 */
export const ERROR_CATALOGUE = {
  EF_ERR_CONFIG_INVALID: { status: 400, summary: 'configuration failed validation' },
  EF_ERR_CONFIG_FILE: { status: 400, summary: 'configuration file could not be read or parsed' },
  EF_ERR_CLI_USAGE: {
    status: 400,
    summary: 'a command-line flag or argument is missing, malformed or conflicts with another (see --help)',
  },
  EF_ERR_STORE_OPEN: { status: 500, summary: 'the store (SQLite file or Postgres server) could not be opened' },
  EF_ERR_STORE_MIGRATION: { status: 500, summary: 'a store schema migration failed' },
  EF_ERR_STORE_DECODE: {
    status: 500,
    summary: 'a stored row does not match its schema (written by another version, or edited by hand)',
  },
  EF_ERR_STORE_BUSY: {
    status: 409,
    summary: 'the data directory is in use by another edgefleet process (a server, or a command running the services)',
  },
  EF_ERR_OWNERSHIP_FENCED: {
    status: 409,
    summary:
      'a replica that lost ownership of once-only work (rollouts) tried to write it; another replica owns it now',
  },
  EF_ERR_BROKER_LISTEN: { status: 500, summary: 'the embedded MQTT broker could not listen' },
  EF_ERR_BROKER_CONNECT: { status: 502, summary: 'could not connect to the MQTT broker' },
  EF_ERR_DEVICE_NOT_FOUND: { status: 404, summary: 'no such device' },
  EF_ERR_LINK_OFFLINE: { status: 503, summary: 'the agent is not connected to the broker; the message was not sent' },
  EF_ERR_MODEL_PARSE: { status: 400, summary: 'the ONNX model could not be decoded' },
  EF_ERR_MODEL_INVALID: { status: 422, summary: 'the ONNX model failed verification' },
  EF_ERR_MODEL_UNSUPPORTED: { status: 422, summary: 'the ONNX model uses something edgefleet does not support' },
  EF_ERR_MODEL_TOO_LARGE: { status: 413, summary: 'the ONNX model or one of its tensors is larger than allowed' },
  EF_ERR_DATA_SHAPE: { status: 422, summary: 'evaluation or calibration data does not match the model input' },
  EF_ERR_DATA_SOURCE: { status: 400, summary: 'a data source specification could not be understood or read' },
  EF_ERR_EVAL_RUNTIME: { status: 500, summary: 'onnxruntime failed while evaluating a model' },
  EF_ERR_RECIPE_INVALID: { status: 400, summary: 'a compression recipe is not a preset or does not validate' },
  EF_ERR_COMPRESS_FAILED: { status: 422, summary: 'a compression pass refused the model or produced an invalid graph' },
  EF_ERR_SEARCH_STORE: {
    status: 409,
    summary: "a search's candidate file belongs to another search or is damaged; it cannot be resumed",
  },
  EF_ERR_SEARCH_OPTIONS: { status: 400, summary: 'search options (budgets, class, space) are invalid' },
  EF_ERR_SEARCH_NOT_FOUND: { status: 404, summary: 'no search with that id (searches live in memory until a restart)' },
  EF_ERR_SEARCH_FAILED: { status: 500, summary: 'a search failed unexpectedly; the server log has the cause' },
  EF_ERR_SEARCH_TIMEOUT: {
    status: 504,
    summary: "the search's time budget ran out before a finalist, or it overran and was stopped",
  },
  EF_ERR_TRAIN_UNSUPPORTED: {
    status: 422,
    summary: 'the model uses an op, attribute or interface outside the trainable set (the op is named)',
  },
  EF_ERR_TRAIN_OPTIONS: {
    status: 400,
    summary: 'training options (student spec, mode, epochs, temperature, feature pairs) failed validation',
  },
  EF_ERR_TRAIN_DATA: {
    status: 422,
    summary: 'the training data does not fit the models or lacks the labels the chosen loss needs',
  },
  EF_ERR_TRAIN_DIVERGED: { status: 422, summary: 'training produced a non-finite loss; lower the learning rate' },
  EF_ERR_TRAIN_STOPPED: { status: 499, summary: 'training was stopped (AbortSignal or Ctrl-C) before it finished' },
  EF_ERR_PRUNE_RATIO: {
    status: 400,
    summary:
      'a pruning ratio is outside [0, 1), a pruning target outside (0, 1], or a channel multiple not a whole ' +
      'number 1-256',
  },
  EF_ERR_PRUNE_LAYER: {
    status: 400,
    summary: 'a pruning option names a layer the model does not have, or one whose channels cannot be pruned',
  },
  EF_ERR_PRUNE_TARGET: {
    status: 422,
    summary: 'no pruning configuration reaches the requested parameter or MAC target',
  },
  EF_ERR_RUNTIME_LOAD: { status: 422, summary: 'onnxruntime could not create a session for the model' },
  EF_ERR_RUNTIME_RUN: { status: 500, summary: 'onnxruntime failed while running a model' },
  EF_ERR_RUNTIME_CRASH: { status: 503, summary: 'the inference worker thread died; the request was not answered' },
  EF_ERR_DEPLOY_REJECTED: {
    status: 422,
    summary: 'a deployment manifest was refused (signature, key, device or content)',
  },
  EF_ERR_DEPLOY_FAILED: { status: 422, summary: 'a deployment step failed; the last-known-good model keeps serving' },
  EF_ERR_ARTIFACT_INTEGRITY: {
    status: 422,
    summary:
      'an artifact or chunk does not match its digest: a damaged stored file the server will not serve ' +
      '(adding the same model again repairs it), or bytes that differ from the signed manifest',
  },
  EF_ERR_ARTIFACT_DOWNLOAD: { status: 504, summary: 'an artifact download timed out or was refused' },
  EF_ERR_ARTIFACT_NOT_FOUND: { status: 404, summary: "no such artifact in the server's artifact store" },
  EF_ERR_SIGNING_KEY: { status: 500, summary: "the server's manifest signing key or keyring cannot be read" },
  EF_ERR_ROLLOUT_INVALID: {
    status: 400,
    summary: 'a rollout request (class, variant, policy or golden set) failed validation',
  },
  EF_ERR_ROLLOUT_NOT_FOUND: { status: 404, summary: 'no such rollout' },
  EF_ERR_ROLLOUT_CONFLICT: {
    status: 409,
    summary: 'the class already has a rollout in progress, or the rollout already finished',
  },
  EF_ERR_SERVE_BAD_REQUEST: { status: 400, summary: 'a local inference request did not validate' },
  EF_ERR_SERVE_NO_MODEL: { status: 503, summary: 'no model is loaded on this device yet' },
  EF_ERR_CLASS_INVALID: { status: 400, summary: 'a device class, its budgets or its models failed validation' },
  EF_ERR_CLASS_NOT_FOUND: { status: 404, summary: 'no such device class' },
  EF_ERR_CLASS_EXISTS: { status: 409, summary: 'a device class with that name already exists' },
  EF_ERR_MODEL_NOT_FOUND: { status: 404, summary: 'no such model in the model store' },
  EF_ERR_PLAN_FAILED: { status: 422, summary: 'the planner could not produce a plan (no candidate could be built)' },
  EF_ERR_PLAN_NOT_FOUND: { status: 404, summary: 'no stored plan with that id' },
  EF_ERR_API_VALIDATION: { status: 400, summary: 'an admin API request (path, query or body) failed its schema' },
  EF_ERR_API_TOO_LARGE: {
    status: 413,
    summary: 'the request body (e.g. a model upload) is larger than the route accepts',
  },
  EF_ERR_API_NOT_FOUND: { status: 404, summary: 'no admin API route matches the method and path' },
  EF_ERR_API_RATE_LIMITED: {
    status: 429,
    summary: 'too many requests from this token or address; retry after the time given',
  },
  EF_ERR_API_INTERNAL: { status: 500, summary: 'the admin API failed unexpectedly; the server log has the cause' },
  EF_ERR_API_LISTEN: { status: 500, summary: 'the admin API could not listen on its port' },
  EF_ERR_API_UNREACHABLE: { status: 502, summary: 'the CLI could not reach the admin API' },
  EF_ERR_CONSOLE_NOT_BUILT: {
    status: 503,
    summary: "the web console's assets are not built or not found; run `npm run build` (or set consoleDir)",
  },
  EF_ERR_AUTH_MISSING: { status: 401, summary: 'the request carries no admin token (Authorization: Bearer …)' },
  EF_ERR_AUTH_INVALID: { status: 401, summary: 'the admin token is unknown, malformed or revoked' },
  EF_ERR_AUTH_FORBIDDEN: { status: 403, summary: "the admin token's scope does not allow this route" },
  EF_ERR_TOKEN_NOT_FOUND: { status: 404, summary: 'no such admin or enrollment token' },
  EF_ERR_ENROLL_INVALID: {
    status: 401,
    summary: 'the enrollment token is unknown (CONNACK 4), malformed, or revoked, expired or used up (CONNACK 5)',
  },
  EF_ERR_ENROLL_EXPIRED: { status: 410, summary: 'the enrollment token has expired' },
  EF_ERR_ENROLL_EXHAUSTED: { status: 410, summary: 'the enrollment token has been used its maximum number of times' },
  EF_ERR_ENROLL_FAILED: {
    status: 502,
    summary: 'the agent could not complete enrollment (no reply, refused, or identity not stored)',
  },
  EF_ERR_DEVICE_REVOKED: { status: 403, summary: "the device's credentials were revoked; it must be enrolled again" },
  EF_ERR_TLS_CONFIG: { status: 400, summary: 'the TLS certificate or key could not be read or used' },
  EF_ERR_FAULT_CGROUP: {
    status: 422,
    summary:
      'a cpu-quota fault cannot be applied: the host has no writable cgroup cpu controller (not root, not Linux, ' +
      'none mounted), or the target is not a real process',
  },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class EdgefleetError extends Error {
  override readonly name = 'EdgefleetError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = Object.freeze({ ...details });
  }

  /** HTTP status for this error at the API edge. */
  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isEdgefleetError(err: unknown, code?: ErrorCode): err is EdgefleetError {
  return err instanceof EdgefleetError && (code === undefined || err.code === code);
}

/**
 * A caught value as an `Error`, so `catch (err: unknown)` blocks need no cast: an Error is
 * returned as it is; anything else thrown (a string, an object) becomes an Error naming it,
 * with the original value as its `cause`.
 */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return new Error(text, { cause: value });
}

/** The `code` of a Node system error (`ENOENT`, `EADDRINUSE`, …), or undefined for anything else. */
export function errnoCode(value: unknown): string | undefined {
  const code = (value as { code?: unknown } | null)?.code;
  return typeof value === 'object' && typeof code === 'string' ? code : undefined;
}
