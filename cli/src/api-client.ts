/**
 * The admin API client every admin command uses. It sends the bearer token, decodes every
 * answer with the route's zod schema from shared/ (an answer that does not match is reported,
 * never passed on as the wrong type), turns `{code, message, details}` errors back into
 * EdgefleetErrors, and says what to do when the server cannot be reached.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { apiErrorSchema, asError, EdgefleetError, ERROR_CATALOGUE, errnoCode, type ErrorCode } from '@edgefleet/shared';
import type { z } from 'zod';

export interface ApiClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Admin token (`efa_…`, or a server's process-local token). */
  readonly token: string | undefined;
  /** PEM certificate to trust for an https URL (the server's own, from its runtime file). */
  readonly ca?: string | Buffer;
}

export interface ApiClient {
  /** Base URL, for messages. */
  readonly url: string;
  get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>>;
  post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>>;
  patch<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>>;
  delete<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>>;
  /** POSTs raw bytes as `application/octet-stream` (model and artifact uploads). */
  postBytes<S extends z.ZodType>(path: string, bytes: Uint8Array, schema: S): Promise<z.output<S>>;
  /**
   * Follows a Server-Sent Events route: resolves once the server has subscribed (so nothing
   * published afterwards is missed), then hands each event's decoded `data` to `onEvent`
   * (events that do not match `schema` are skipped). `stop()` ends the stream.
   */
  follow<S extends z.ZodType>(
    path: string,
    schema: S,
    onEvent: (event: z.output<S>) => void,
  ): Promise<{ stop(): void }>;
}

/** A request body: JSON (any value) or raw bytes. */
type Body = { readonly json: unknown } | { readonly bytes: Uint8Array } | undefined;

interface RawResponse {
  readonly status: number;
  readonly text: string;
}

function encodeBody(body: Body): { headers: Record<string, string>; payload: Buffer | null } {
  if (body === undefined) return { headers: {}, payload: null };
  const payload = 'bytes' in body ? Buffer.from(body.bytes) : Buffer.from(JSON.stringify(body.json), 'utf8');
  const type = 'bytes' in body ? 'application/octet-stream' : 'application/json';
  return { headers: { 'content-type': type, 'content-length': String(payload.byteLength) }, payload };
}

/** One HTTP exchange with node's own client (an https URL may pin the server's certificate). */
function exchange(options: ApiClientOptions, method: string, url: URL, body: Body): Promise<RawResponse> {
  const { headers, payload } = encodeBody(body);
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const tls =
    url.protocol === 'https:' && options.ca !== undefined
      ? // The certificate is the server's own, read from its data directory: trust exactly it, whatever its name.
        { ca: options.ca, checkServerIdentity: () => undefined }
      : {};
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers: { ...auth, ...headers }, ...tls }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

function unreachable(base: string, err: unknown): EdgefleetError {
  const cause = errnoCode(err) ?? asError(err).message;
  return new EdgefleetError(
    'EF_ERR_API_UNREACHABLE',
    `cannot reach the admin API at ${base} (${cause}); is \`edgefleet server\` running? ` +
      'pass --api URL or set EDGEFLEET_API, or --data-dir DIR for a server on this host',
    { url: base },
    { cause: err },
  );
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? null : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns an answer into the route's type, or the server's error into an EdgefleetError. */
function decodeAnswer<S extends z.ZodType>(res: RawResponse, schema: S, what: string): z.output<S> {
  const json = parseJson(res.text);
  if (res.status >= 200 && res.status < 300) {
    const parsed = schema.safeParse(json);
    if (parsed.success) return parsed.data;
    throw new EdgefleetError(
      'EF_ERR_API_INTERNAL',
      `the admin API's answer to ${what} does not match its schema (${parsed.error.issues[0]?.path.join('.') ?? ''}: ` +
        `${parsed.error.issues[0]?.message ?? 'invalid'}); the server and this CLI are probably different versions`,
      { status: res.status },
    );
  }
  const error = apiErrorSchema.safeParse(json);
  if (error.success && Object.hasOwn(ERROR_CATALOGUE, error.data.code))
    throw new EdgefleetError(error.data.code as ErrorCode, error.data.message, error.data.details);
  throw new EdgefleetError(
    'EF_ERR_API_INTERNAL',
    `admin API answered HTTP ${res.status} to ${what}: ${res.text.slice(0, 300)}`,
    { status: res.status },
  );
}

/** Splits an SSE byte stream into `data:` payloads (one event may span several data lines). */
function sseData(onData: (data: string) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('utf8');
    for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data !== '') onData(data);
    }
  };
}

function follow<S extends z.ZodType>(
  options: ApiClientOptions,
  url: URL,
  schema: S,
  onEvent: (event: z.output<S>) => void,
): Promise<{ stop(): void }> {
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const tls =
    url.protocol === 'https:' && options.ca !== undefined
      ? { ca: options.ca, checkServerIdentity: () => undefined }
      : {};
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers: { ...auth, accept: 'text/event-stream' }, ...tls }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new EdgefleetError('EF_ERR_API_INTERNAL', `event stream answered HTTP ${res.statusCode}`, {}));
        return;
      }
      res.on(
        'data',
        sseData((data) => {
          const parsed = schema.safeParse(parseJson(data));
          if (parsed.success) onEvent(parsed.data);
        }),
      );
      // A stream that ends or breaks only means no more progress to show.
      res.on('error', () => undefined);
      resolve({ stop: () => req.destroy() });
    });
    req.on('error', (err) => reject(unreachable(`${url.protocol}//${url.host}`, err)));
    req.end();
  });
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const base = options.url.replace(/\/+$/, '');
  async function call<S extends z.ZodType>(method: string, path: string, body: Body, schema: S) {
    let res: RawResponse;
    try {
      res = await exchange(options, method, new URL(`${base}${path}`), body);
    } catch (err: unknown) {
      throw unreachable(base, err);
    }
    return decodeAnswer(res, schema, `${method} ${path.split('?')[0]}`);
  }
  return {
    url: base,
    get: (path, schema) => call('GET', path, undefined, schema),
    post: (path, body, schema) => call('POST', path, { json: body ?? {} }, schema),
    patch: (path, body, schema) => call('PATCH', path, { json: body }, schema),
    delete: (path, schema) => call('DELETE', path, undefined, schema),
    postBytes: (path, bytes, schema) => call('POST', path, { bytes }, schema),
    follow: (path, schema, onEvent) => follow(options, new URL(`${base}${path}`), schema, onEvent),
  };
}
