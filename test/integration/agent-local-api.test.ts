/**
 * The agent's local inference API on TCP and a Unix socket at once, in its three forms (JSON,
 * binary HTTP, framed binary), against a real onnxruntime worker: every form answers exactly
 * the same numbers, and bad input in each form gets EF_ERR_SERVE_BAD_REQUEST without harming
 * the agent or the other connections.
 */
import t from 'tap';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createModelWorker } from '@edgefleet/agent/runtime/model-worker';
import { createServingRuntime } from '@edgefleet/agent/runtime/serving';
import { decodeInferFrame, encodeInferFrame, type InferFrame } from '@edgefleet/agent/serve/frame-protocol';
import { startLocalApi } from '@edgefleet/agent/serve/local-api';
import { buildClassifier, CLASSES, INPUTS, seededFloats } from '../fixtures/deploy-models.js';

const silent = pino({ level: 'silent' });
// Unix socket paths are limited to 107 bytes; tap's fixture directories are longer.
const sockets = mkdtempSync(join(tmpdir(), 'ef-api-'));
t.teardown(() => rmSync(sockets, { recursive: true, force: true }));

function post(
  target: { port: number } | { socketPath: string },
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'POST',
        path: '/v1/infer',
        headers: { ...headers, 'content-length': String(body.byteLength) },
        ...('port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends frames on one connection and collects the answers until `count` arrived or the socket closed. */
async function frames(socketPath: string, payloads: readonly Buffer[], count: number): Promise<InferFrame[]> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(socketPath, () => resolve(s));
    s.once('error', reject);
  });
  const got: InferFrame[] = [];
  let buffered = Buffer.alloc(0);
  return new Promise((resolve) => {
    socket.on('data', (part: Buffer) => {
      buffered = Buffer.concat([buffered, part]);
      for (let d = decodeInferFrame(buffered, 'response'); d !== null; d = decodeInferFrame(buffered, 'response')) {
        buffered = buffered.subarray(d.bytes);
        got.push(d.frame);
      }
      if (got.length >= count) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('close', () => resolve(got));
    for (const p of payloads) socket.write(p);
  });
}

t.test('JSON, binary HTTP and frames on TCP and a socket answer the same numbers', async (t) => {
  const serving = createServingRuntime();
  const socketPath = join(sockets, 'a.sock');
  const api = await startLocalApi({ serving, logger: silent, port: 0, socketPath });
  t.teardown(async () => {
    await api.close();
    await serving.close();
  });
  t.same(api.urls, [`http://127.0.0.1:${api.port}`, `unix:${socketPath}`], 'both listeners');
  const input = seededFloats(INPUTS, 5);
  const binary = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const headers = { 'content-type': 'application/octet-stream', 'x-ef-dims': `1,${INPUTS}` };

  const noModel = await post({ port: api.port as number }, headers, binary);
  t.equal(noModel.status, 503, 'no model yet: 503');
  t.match(JSON.parse(noModel.body.toString()), { error: { code: 'EF_ERR_SERVE_NO_MODEL' } });
  const [noModelFrame] = await frames(
    socketPath,
    [encodeInferFrame({ kind: 'request', id: 7, tensor: { dims: [1, INPUTS], data: input } })],
    1,
  );
  t.match(noModelFrame, { kind: 'error', id: 7, code: 'EF_ERR_SERVE_NO_MODEL' });

  const worker = createModelWorker();
  await worker.load(buildClassifier(11));
  serving.switchTo({ worker, sha256: 'a'.repeat(64), variantId: 'vA', deploymentId: null });

  const health = await new Promise<unknown>((resolve, reject) => {
    request({ host: '127.0.0.1', port: api.port as number, path: '/v1/health' }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (p: Buffer) => parts.push(p));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(parts).toString())));
    })
      .on('error', reject)
      .end();
  });
  t.match(
    health,
    { ok: true, model: { sha256: 'a'.repeat(64), variantId: 'vA', inputs: ['x'], outputs: ['y'] } },
    "health names the model's inputs and outputs (what /v1/infer needs)",
  );

  const json = await post(
    { port: api.port as number },
    { 'content-type': 'application/json' },
    Buffer.from(JSON.stringify({ inputs: { x: { dims: [1, INPUTS], data: Array.from(input) } } })),
  );
  t.equal(json.status, 200);
  const reference = Float32Array.from(
    (JSON.parse(json.body.toString()) as { outputs: { y: { data: number[] } } }).outputs.y.data,
  );
  t.equal(reference.length, CLASSES);

  for (const target of [{ port: api.port as number }, { socketPath }]) {
    const res = await post(target, headers, binary);
    t.equal(res.status, 200, `binary over ${'port' in target ? 'TCP' : 'the socket'}`);
    t.equal(res.headers['x-ef-dims'], `1,${CLASSES}`);
    t.equal(res.headers['x-ef-output'], 'y');
    t.equal(res.headers['x-ef-model-sha256'], 'a'.repeat(64));
    t.same(
      Array.from(new Float32Array(new Uint8Array(res.body).buffer)),
      Array.from(reference),
      'same numbers as JSON',
    );
  }

  const answers = await frames(
    socketPath,
    [1, 2, 3].map((id) => encodeInferFrame({ kind: 'request', id, tensor: { dims: [1, INPUTS], data: input } })),
    3,
  );
  t.same(answers.map((a) => a.id).sort(), [1, 2, 3], 'three pipelined frames, three answers by id');
  for (const a of answers) {
    t.equal(a.kind, 'response');
    if (a.kind === 'response') t.same(Array.from(a.tensor.data), Array.from(reference), `frame ${a.id}: same numbers`);
  }
  t.equal(serving.stats().inferences, 6, 'every answer was a real inference');
});

t.test('bad input in each form: 400 / an error frame, and the agent keeps serving', async (t) => {
  const serving = createServingRuntime();
  const socketPath = join(sockets, 'b.sock');
  const api = await startLocalApi({ serving, logger: silent, socketPath });
  t.equal(api.port, null, 'a socket alone: no TCP listener');
  t.teardown(async () => {
    await api.close();
    await serving.close();
  });
  const worker = createModelWorker();
  await worker.load(buildClassifier(11));
  serving.switchTo({ worker, sha256: 'a'.repeat(64), variantId: 'vA', deploymentId: null });
  const target = { socketPath };
  const table: Array<[string, Record<string, string>, Buffer, RegExp]> = [
    ['no dims header', { 'content-type': 'application/octet-stream' }, Buffer.alloc(64), /x-ef-dims/],
    [
      'dims and body disagree',
      { 'content-type': 'application/octet-stream', 'x-ef-dims': '1,16' },
      Buffer.alloc(60),
      /needs 64 bytes/,
    ],
    ['bad dims', { 'content-type': 'application/octet-stream', 'x-ef-dims': '1,-3' }, Buffer.alloc(4), /x-ef-dims/],
    ['not JSON', { 'content-type': 'application/json' }, Buffer.from('{nope'), /not JSON/],
    [
      'wrong shape for the model',
      { 'content-type': 'application/octet-stream', 'x-ef-dims': '1,3' },
      Buffer.alloc(12),
      /onnxruntime run failed/,
    ],
  ];
  for (const [what, headers, body, message] of table) {
    const res = await post(target, headers, body);
    t.equal(res.status, 400, what);
    t.match(JSON.parse(res.body.toString()), { error: { message } }, what);
  }
  const [bad] = await frames(socketPath, [Buffer.from('EFQ1\x05\x00\x00\x00zzzzz', 'latin1')], 1);
  t.match(
    bad,
    { kind: 'error', code: 'EF_ERR_SERVE_BAD_REQUEST' },
    'an unreadable frame gets an error frame (and the connection closes)',
  );
  const [wrongLength] = await frames(
    socketPath,
    [encodeInferFrame({ kind: 'request', id: 9, tensor: { dims: [1, 3], data: new Float32Array(3) } })],
    1,
  );
  t.match(
    wrongLength,
    { kind: 'error', id: 9, code: 'EF_ERR_RUNTIME_RUN' },
    'a tensor the model refuses: an error frame',
  );
  const ok = await post(
    target,
    { 'content-type': 'application/octet-stream', 'x-ef-dims': `1,${INPUTS}` },
    Buffer.alloc(64),
  );
  t.equal(ok.status, 200, 'and a good request still works');
});
