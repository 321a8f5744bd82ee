import { readFileSync } from 'node:fs';
import { EdgefleetError, asError, configInvalidError } from '@edgefleet/shared';
import { CONFIG_ENV_VARS, CONFIG_FILE_ENV_VAR, serverConfigSchema, type ServerConfig } from './schema.js';

type Layer = Record<string, unknown>;

export interface LoadConfigOptions {
  /** Environment to read `EDGEFLEET_*` variables from; pass `process.env` at the process edge. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file; overrides `EDGEFLEET_CONFIG`. */
  readonly configFile?: string | undefined;
  /** Values from command-line flags, already shaped like the config (dotted keys allowed). */
  readonly flags?: Readonly<Record<string, unknown>>;
}

function isPlainObject(value: unknown): value is Layer {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets `a.b.c` in a nested object, creating the objects on the way. */
function setPath(target: Layer, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    node[key] = isPlainObject(next) ? next : {};
    node = node[key] as Layer;
  }
  node[keys[keys.length - 1] as string] = value;
}

/** Later layers win; nested objects merge key by key; `undefined` never overrides. */
function mergeLayers(...layers: Layer[]): Layer {
  const out: Layer = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      const prev = out[key];
      out[key] = isPlainObject(prev) && isPlainObject(value) ? mergeLayers(prev, value) : value;
    }
  }
  return out;
}

function envLayer(env: Readonly<Record<string, string | undefined>>): Layer {
  const layer: Layer = {};
  for (const [name, path] of Object.entries(CONFIG_ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(layer, path, value);
  }
  return layer;
}

function fileLayer(path: string): Layer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_CONFIG_FILE',
      `cannot read config file ${path}: ${asError(err).message}; check the path given to --config or ` +
        `${CONFIG_FILE_ENV_VAR}`,
      { path },
      { cause: err },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_CONFIG_FILE',
      `config file ${path} is not valid JSON: ${asError(err).message}`,
      { path },
      { cause: err },
    );
  }
  if (!isPlainObject(parsed))
    throw new EdgefleetError('EF_ERR_CONFIG_FILE', `config file ${path} must hold a JSON object`, { path });
  return parsed;
}

function flagLayer(flags: Readonly<Record<string, unknown>>): Layer {
  const layer: Layer = {};
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) setPath(layer, key, value);
  return layer;
}

function deepFreeze<T>(value: T): T {
  if (isPlainObject(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the frozen server config from defaults < config file < `EDGEFLEET_*` env < flags.
 * Throws `EF_ERR_CONFIG_INVALID` listing every problem with its dotted path, or
 * `EF_ERR_CONFIG_FILE` when the file cannot be read.
 */
export function loadServerConfig(options: LoadConfigOptions = {}): ServerConfig {
  const env = options.env ?? {};
  const filePath = options.configFile ?? env[CONFIG_FILE_ENV_VAR];
  const merged = mergeLayers(filePath ? fileLayer(filePath) : {}, envLayer(env), flagLayer(options.flags ?? {}));
  const result = serverConfigSchema.safeParse(merged);
  if (!result.success)
    throw configInvalidError(
      'configuration',
      result.error,
      'fix the flags, EDGEFLEET_* variables or config file named above',
    );
  return deepFreeze(result.data);
}
