/**
 * Local inference API for applications on the device: HTTP on 127.0.0.1 (or a Unix socket).
 *
 *   POST /v1/infer   {inputs: {name: {dims, data: number[] | base64 float32}}}
 *                    → {outputs: {name: {dims, data: number[]}}, model: {sha256, variantId}, latencyMs}
 *   GET  /v1/health  → {ok, model: {sha256, variantId} | null, inferences, errors}
 *
 * Bodies are parsed with zod at the edge; bad requests get 400 with a reason, no model 503,
 * a crashed worker 503; nothing a client sends can take the agent down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isEdgefleetError, asError } from '@edgefleet/shared';
import type { FloatTensor } from '../runtime/ort.js';
import type { ServingRuntime } from '../runtime/serving.js';
import { decodeFloat32 } from '../swap/golden.js';

const inferTensorSchema = z.strictObject({
  dims: z.array(z.number().int().nonnegative()).min(1).max(8),
  data: z.union([z.array(z.number()), z.base64()]),
});
/** Body of POST /v1/infer. */
export const inferRequestSchema = z.strictObject({ inputs: z.record(z.string().min(1).max(128), inferTensorSchema) });
export type InferRequest = z.infer<typeof inferRequestSchema>;

export interface LocalApiOptions {
  readonly serving: ServingRuntime;
  readonly logger: Logger;
  /** TCP port on 127.0.0.1; 0 picks a free one. Ignored when `socketPath` is set. Default 0. */
  readonly port?: number;
  /** Listen on this Unix socket instead of TCP. */
  readonly socketPath?: string;
  /** Largest request body, in bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number;
}

export interface LocalApi {
  /** `http://127.0.0.1:<port>` or `unix:<path>`. */
  readonly url: string;
  readonly port: number | null;
  close(): Promise<void>;
}

class BadRequest extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.byteLength;
      if (size > max) {
        reject(new BadRequest(`body larger than ${max} bytes`));
        req.destroy();
        return;
      }
      parts.push(part);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** Turns a validated request into model feeds; throws BadRequest when data and dims disagree. */
export function toFeeds(request: InferRequest): Record<string, FloatTensor> {
  const feeds: Record<string, FloatTensor> = {};
  for (const [name, tensor] of Object.entries(request.inputs)) {
    const data = typeof tensor.data === 'string' ? decodeFloat32(tensor.data) : Float32Array.from(tensor.data);
    const expected = tensor.dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected)
      throw new BadRequest(
        `input ${name}: ${data.length} values for dims [${tensor.dims.join(', ')}] (expected ${expected})`,
      );
    feeds[name] = { dims: tensor.dims, data };
  }
  return feeds;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts the local API; resolves once it listens. */
export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const { serving } = options;
  const maxBody = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const log = options.logger.child({ component: 'local-api' });

  async function handleInfer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse((await readBody(req, maxBody)).toString('utf8'));
    } catch (err: unknown) {
      send(res, 400, {
        error: { code: 'EF_ERR_SERVE_BAD_REQUEST', message: `body is not JSON: ${asError(err).message}` },
      });
      return;
    }
    const parsed = inferRequestSchema.safeParse(json);
    if (!parsed.success) {
      send(res, 400, { error: { code: 'EF_ERR_SERVE_BAD_REQUEST', message: z.prettifyError(parsed.error) } });
      return;
    }
    const result = await serving.infer(toFeeds(parsed.data));
    const outputs = Object.fromEntries(
      Object.entries(result.outputs).map(([name, t]) => [name, { dims: t.dims, data: Array.from(t.data) }]),
    );
    send(res, 200, {
      outputs,
      model: { sha256: result.sha256, variantId: result.variantId },
      latencyMs: result.latencyMs,
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method === 'GET' && req.url === '/v1/health') {
        const model = serving.current();
        send(res, 200, {
          ok: model !== null,
          model: model ? { sha256: model.sha256, variantId: model.variantId } : null,
          ...serving.stats(),
        });
      } else if (req.method === 'POST' && req.url === '/v1/infer') {
        await handleInfer(req, res);
      } else {
        send(res, 404, { error: { code: 'not-found', message: 'use POST /v1/infer or GET /v1/health' } });
      }
    } catch (err: unknown) {
      if (err instanceof BadRequest) {
        send(res, 400, { error: { code: 'EF_ERR_SERVE_BAD_REQUEST', message: err.message } });
        return;
      }
      if (isEdgefleetError(err)) {
        send(res, err.code === 'EF_ERR_RUNTIME_RUN' ? 400 : err.status, { error: err.toJSON() });
        return;
      }
      log.error({ err }, 'local API request failed');
      send(res, 500, { error: { code: 'internal', message: asError(err).message } });
    }
  }

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (options.socketPath) server.listen(options.socketPath, resolve);
    else server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? (address as AddressInfo).port : null;
  const url = options.socketPath ? `unix:${options.socketPath}` : `http://127.0.0.1:${port}`;
  log.info({ url }, 'local inference API listening');
  return Object.freeze({
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
