import {
  apiErrorSchema,
  EdgefleetError,
  ERROR_CATALOGUE,
  asError,
  stripUndefined,
  type ErrorCode,
} from '@edgefleet/shared';
import type { Command } from 'commander';

/** Default admin API URL when neither `--api` nor `EDGEFLEET_API` is given. */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

export interface ApiClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Admin token (`efa_…`). */
  readonly token: string | undefined;
  /** Injected for tests. Default global fetch. */
  readonly fetch?: typeof fetch;
}

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
  /** POSTs raw bytes as `application/octet-stream` (model uploads). */
  postBytes<T>(path: string, bytes: Uint8Array): Promise<T>;
}

/** A request body: JSON (any value) or raw bytes. */
type Body = { readonly json: unknown } | { readonly bytes: Uint8Array } | undefined;

function encodeBody(body: Body): { headers: Record<string, string>; body?: string | Uint8Array } {
  if (body === undefined) return { headers: {} };
  if ('bytes' in body) return { headers: { 'content-type': 'application/octet-stream' }, body: body.bytes };
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body.json) };
}

/**
 * Thin client of the admin API for CLI commands: sends the bearer token, turns
 * `{code, message, details}` answers back into EdgefleetErrors, and says what to do when
 * the server cannot be reached.
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const doFetch = options.fetch ?? fetch;
  const base = options.url.replace(/\/+$/, '');
  async function call<T>(method: string, path: string, body?: Body): Promise<T> {
    let response: Response;
    const encoded = encodeBody(body);
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...encoded.headers },
        ...stripUndefined({ body: encoded.body }),
      });
    } catch (err: unknown) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? asError(err).message;
      throw new EdgefleetError(
        'EF_ERR_API_UNREACHABLE',
        `cannot reach the admin API at ${base} (${cause}); is \`edgefleet server\` running? pass --api URL or set EDGEFLEET_API`,
        { url: base },
        { cause: err },
      );
    }
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      /* reported below */
    }
    if (response.ok) return json as T;
    const error = apiErrorSchema.safeParse(json);
    if (error.success && Object.hasOwn(ERROR_CATALOGUE, error.data.code)) {
      throw new EdgefleetError(error.data.code as ErrorCode, error.data.message, error.data.details);
    }
    throw new EdgefleetError(
      'EF_ERR_API_INTERNAL',
      `admin API answered HTTP ${response.status}: ${text.slice(0, 300)}`,
      { status: response.status },
    );
  }
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, { json: body ?? {} }),
    patch: (path, body) => call('PATCH', path, { json: body }),
    delete: (path) => call('DELETE', path),
    postBytes: (path, bytes) => call('POST', path, { bytes }),
  };
}

/** Adds `--api URL` and `--token T` (env EDGEFLEET_API, EDGEFLEET_TOKEN) to an admin command. */
export function addApiFlags(command: Command): Command {
  return command
    .option('--api <url>', `admin API base URL (default ${DEFAULT_API_URL}; env EDGEFLEET_API)`)
    .option(
      '--token <token>',
      'admin token (env EDGEFLEET_TOKEN); create one on the server host with `edgefleet token create`',
    );
}

/** The client for a command's parsed `--api/--token` flags, falling back to the environment. */
export function apiClientFromFlags(
  flags: { api?: string; token?: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
): ApiClient {
  return createApiClient({
    url: flags.api ?? env['EDGEFLEET_API'] ?? DEFAULT_API_URL,
    token: flags.token ?? env['EDGEFLEET_TOKEN'],
  });
}
