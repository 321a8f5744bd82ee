import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  DEVICE_ID_PATTERN,
  EdgefleetError,
  asError,
  configInvalidError,
  formatConfigIssues,
} from '@edgefleet/shared/device';
import { AGENT_CONFIG_FILE_ENV_VAR, AGENT_ENV_VARS, agentConfigSchema, type AgentConfig } from './schema.js';

type Layer = Record<string, unknown>;

export interface LoadAgentConfigOptions {
  /** Environment to read `EDGEFLEET_AGENT_*` from; the process edge passes `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file; overrides `EDGEFLEET_AGENT_CONFIG`. */
  readonly configFile?: string | undefined;
  /** Flag values keyed by config key; `undefined` means "not given". */
  readonly flags?: Readonly<Partial<Record<keyof AgentConfig, unknown>>>;
  /** Host name for the default device id. Default `os.hostname()`. */
  readonly hostname?: string;
}

function isPlainObject(value: unknown): value is Layer {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Turns a host name into a valid device id (`My Pi!` → `My-Pi`), or `agent` if nothing is left. */
export function deviceIdFromHostname(name: string): string {
  const id = name
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return DEVICE_ID_PATTERN.test(id) ? id : 'agent';
}

function readFileLayer(path: string): Layer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_CONFIG_FILE',
      `cannot read agent config file ${path}: ${asError(err).message}; check --config or ${AGENT_CONFIG_FILE_ENV_VAR}`,
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
      `agent config file ${path} is not valid JSON: ${asError(err).message}`,
      { path },
      { cause: err },
    );
  }
  if (!isPlainObject(parsed))
    throw new EdgefleetError('EF_ERR_CONFIG_FILE', `agent config file ${path} must hold a JSON object`, { path });
  return parsed;
}

function definedOnly(layer: Readonly<Record<string, unknown>>): Layer {
  return Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined && v !== ''));
}

/** One line per problem, starting with its dotted path, e.g. `keepaliveS: Too small: expected number to be >=1`. */
/** One line per problem with its dotted path; the shared formatter, kept under the agent's name for library users. */
export const formatAgentConfigIssues = formatConfigIssues;

/**
 * Builds the frozen agent config from defaults < JSON file < env < flags. Throws
 * `EF_ERR_CONFIG_INVALID` listing every problem with its dotted path (callers exit 2), or
 * `EF_ERR_CONFIG_FILE` when the file cannot be read.
 */
export function loadAgentConfig(options: LoadAgentConfigOptions = {}): AgentConfig {
  const env = options.env ?? {};
  const filePath = options.configFile ?? env[AGENT_CONFIG_FILE_ENV_VAR];
  const envLayer: Layer = {};
  for (const [name, key] of Object.entries(AGENT_ENV_VARS)) envLayer[key] = env[name];
  const merged: Layer = {
    deviceId: deviceIdFromHostname(options.hostname ?? hostname()),
    ...(filePath ? readFileLayer(filePath) : {}),
    ...definedOnly(envLayer),
    ...definedOnly(options.flags ?? {}),
  };
  const result = agentConfigSchema.safeParse(merged);
  if (!result.success)
    throw configInvalidError(
      'agent configuration',
      result.error,
      'fix the flags, EDGEFLEET_AGENT_* variables or config file named above',
    );
  return Object.freeze(result.data);
}
