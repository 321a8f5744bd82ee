/**
 * The console's one door to the admin API: every call carries the signed-in token and every
 * answer is decoded with the zod schema the server validated it with (shared/src/api), so a
 * page only ever sees typed, checked data. Errors come back as `ApiFailure` with the API's
 * stable code and message.
 */
import { apiErrorSchema } from '@edgefleet/shared/api/common';
import type { z } from 'zod';

export class ApiFailure extends Error {
  constructor(
    /** `EF_ERR_…` from the server, or `EF_CONSOLE_NETWORK` / `EF_CONSOLE_DECODE` for failures on this side. */
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

export interface ApiClient {
  get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>>;
  post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>>;
}

async function decode<S extends z.ZodType>(res: Response, schema: S, what: string): Promise<z.output<S>> {
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new ApiFailure(
      'EF_CONSOLE_DECODE',
      res.status,
      `${what}: the server did not answer JSON (HTTP ${res.status})`,
    );
  }
  if (!res.ok) {
    const error = apiErrorSchema.safeParse(json);
    if (error.success) throw new ApiFailure(error.data.code, res.status, error.data.message);
    throw new ApiFailure('EF_CONSOLE_DECODE', res.status, `${what}: HTTP ${res.status}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    // The server checks its own responses, so this means the console and server versions differ.
    const first = parsed.error.issues[0];
    throw new ApiFailure(
      'EF_CONSOLE_DECODE',
      res.status,
      `${what}: unexpected answer (${first ? `${first.path.join('.')}: ${first.message}` : 'schema mismatch'}); is ` +
        `the console from the same edgefleet version as the server?`,
    );
  }
  return parsed.data;
}

/** A client for `token`; `onUnauthorized` runs when the server says the token is missing, unknown or revoked. */
export function createApiClient(token: string, onUnauthorized: (failure: ApiFailure) => void): ApiClient {
  async function call<S extends z.ZodType>(method: string, path: string, body: unknown, schema: S) {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err: unknown) {
      throw new ApiFailure(
        'EF_CONSOLE_NETWORK',
        0,
        `cannot reach the edgefleet server (${err instanceof Error ? err.message : String(err)}); is it running?`,
      );
    }
    try {
      return await decode(res, schema, `${method} ${path}`);
    } catch (err: unknown) {
      if (err instanceof ApiFailure && res.status === 401) onUnauthorized(err);
      throw err;
    }
  }
  return {
    get: (path, schema) => call('GET', path, undefined, schema),
    post: (path, body, schema) => call('POST', path, body, schema),
  };
}
