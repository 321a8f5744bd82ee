/**
 * The local API's HTTP routes:
 *
 *   POST /v1/infer  application/json (default)
 *                   {inputs: {name: {dims, data: number[] | base64 float32}}}
 *                   → {outputs: {name: {dims, data: number[]}}, model: {sha256, variantId}, latencyMs}
 *   POST /v1/infer  application/octet-stream: the raw little-endian float32 input, dims in
 *                   `x-ef-dims: 1,1,28,28`, optional `x-ef-input: name` (default: the model's
 *                   first input) → the first output's raw float32 bytes, with `x-ef-dims`,
 *                   `x-ef-output`, `x-ef-model-sha256` and `x-ef-latency-ms` headers
 *   GET  /v1/health → {ok, model: {sha256, variantId, inputs, outputs} | null, inferences, errors}
 *
 * The binary form skips JSON, zod and number arrays, which cost most of a small model's
 * request time. Bad requests get 400 with a reason, no model 503; nothing a client sends can
 * take the agent down.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import * as z from 'zod';
import { asError, isEdgefleetError } from '@edgefleet/shared/device';
import type { FloatTensor } from '../runtime/ort.js';
import { noModelError, type ServingRuntime } from '../runtime/serving.js';
import { decodeFloat32 } from '../swap/golden.js';

const inferTensorSchema = z.strictObject({
  dims: z.array(z.number().int().nonnegative()).min(1).max(8),
  data: z.union([z.array(z.number()), z.base64()]),
});
/** Body of POST /v1/infer (JSON). */
export const inferRequestSchema = z.strictObject({ inputs: z.record(z.string().min(1).max(128), inferTensorSchema) });
export type InferRequest = z.infer<typeof inferRequestSchema>;

/** A request the client got wrong: answered 400 with its message. */
export class BadRequest extends Error {}

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
    req.on('end', () => resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)));
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

/** Parses `x-ef-dims: 1,1,28,28`; throws BadRequest. */
export function parseDimsHeader(value: string | string[] | undefined): number[] {
  if (typeof value !== 'string' || value.trim() === '')
    throw new BadRequest('binary request needs an x-ef-dims header, e.g. x-ef-dims: 1,1,28,28');
  const dims = value.split(',').map((d) => Number(d.trim()));
  if (dims.length > 8 || dims.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff))
    throw new BadRequest(`x-ef-dims ${JSON.stringify(value)}: expected up to 8 non-negative integers`);
  return dims;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface HttpHandlerOptions {
  readonly serving: ServingRuntime;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
}

/** The request listener of every HTTP listener of the local API. */
export function createHttpHandler(options: HttpHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { serving, maxBodyBytes, logger: log } = options;

  async function inferJson(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse((await readBody(req, maxBodyBytes)).toString('utf8'));
    } catch (err: unknown) {
      if (err instanceof BadRequest) throw err;
      throw new BadRequest(`body is not JSON: ${asError(err).message}`);
    }
    const parsed = inferRequestSchema.safeParse(json);
    if (!parsed.success) throw new BadRequest(z.prettifyError(parsed.error));
    // The feeds were built for this request alone: hand their buffers to the worker, no copy.
    const result = await serving.infer(toFeeds(parsed.data), { transfer: true });
    const outputs = Object.fromEntries(
      Object.entries(result.outputs).map(([name, t]) => [name, { dims: t.dims, data: Array.from(t.data) }]),
    );
    sendJson(res, 200, {
      outputs,
      model: { sha256: result.sha256, variantId: result.variantId },
      latencyMs: result.latencyMs,
    });
  }

  async function inferBinary(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const dims = parseDimsHeader(req.headers['x-ef-dims']);
    const body = await readBody(req, maxBodyBytes);
    const values = dims.reduce((a, b) => a * b, 1);
    if (body.byteLength !== 4 * values)
      throw new BadRequest(
        `x-ef-dims [${dims.join(', ')}] needs ${4 * values} bytes of float32, body has ${body.byteLength}`,
      );
    const data = new Float32Array(values);
    new Uint8Array(data.buffer).set(body);
    if (serving.current() === null) throw noModelError();
    const named = req.headers['x-ef-input'];
    const input = typeof named === 'string' && named !== '' ? named : serving.inputNames()[0];
    if (input === undefined) throw new BadRequest('the serving model declares no inputs');
    const result = await serving.infer({ [input]: { dims, data } }, { transfer: true });
    const [name, output] = Object.entries(result.outputs)[0] ?? [];
    if (name === undefined || output === undefined) throw new BadRequest('the model returned no output');
    const bytes = Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': bytes.byteLength,
      'x-ef-output': name,
      'x-ef-dims': output.dims.join(','),
      'x-ef-model-sha256': result.sha256,
      'x-ef-latency-ms': result.latencyMs.toFixed(4),
    });
    res.end(bytes);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method === 'GET' && req.url === '/v1/health') {
        const model = serving.current();
        sendJson(res, 200, {
          ok: model !== null,
          // The names an application needs for /v1/infer (a newcomer's first question).
          model: model
            ? {
                sha256: model.sha256,
                variantId: model.variantId,
                inputs: model.worker.info()?.inputNames ?? [],
                outputs: model.worker.info()?.outputNames ?? [],
              }
            : null,
          ...serving.stats(),
        });
      } else if (req.method === 'POST' && req.url === '/v1/infer') {
        if (req.headers['content-type'] === 'application/octet-stream') await inferBinary(req, res);
        else await inferJson(req, res);
      } else {
        sendJson(res, 404, { error: { code: 'not-found', message: 'use POST /v1/infer or GET /v1/health' } });
      }
    } catch (err: unknown) {
      if (err instanceof BadRequest) {
        sendJson(res, 400, { error: { code: 'EF_ERR_SERVE_BAD_REQUEST', message: err.message } });
        return;
      }
      if (isEdgefleetError(err)) {
        sendJson(res, err.code === 'EF_ERR_RUNTIME_RUN' ? 400 : err.status, { error: err.toJSON() });
        return;
      }
      log.error({ err }, 'local API request failed');
      sendJson(res, 500, { error: { code: 'internal', message: asError(err).message } });
    }
  }

  return (req, res) => {
    void handle(req, res);
  };
}
