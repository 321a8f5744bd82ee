/**
 * Clients of the agent's local inference API for `npm run bench:agent`, one per serving path:
 * JSON and binary HTTP (TCP or Unix socket, one kept-alive connection each) and the framed
 * binary protocol on the socket. Each returns the first output so the bench can check that
 * every path answers exactly what bare onnxruntime computes.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { decodeInferFrame, encodeInferFrame } from '@edgefleet/agent/serve/frame-protocol';
export { encodeInferFrame };

export interface BenchInput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** One call on one path; resolves with the first output's values. */
export type InferCall = () => Promise<Float32Array>;

export interface PathClient {
  readonly call: InferCall;
  close(): void;
}

type Target = { readonly port: number } | { readonly socketPath: string };

function post(
  agent: Agent,
  target: Target,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        method: 'POST',
        path: '/v1/infer',
        headers: { ...headers, 'content-length': String(body.byteLength) },
        ...('port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function floats(buffer: Buffer): Float32Array {
  const copy = new Uint8Array(buffer.byteLength);
  copy.set(buffer);
  return new Float32Array(copy.buffer);
}

/** `POST /v1/infer` with a JSON body (data as base64 float32), the API's original form. */
export function jsonClient(target: Target, input: BenchInput): PathClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = Buffer.from(
    JSON.stringify({
      inputs: {
        [input.name]: {
          dims: input.dims,
          data: Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength).toString('base64'),
        },
      },
    }),
  );
  return {
    async call() {
      const res = await post(agent, target, { 'content-type': 'application/json' }, body);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString()}`);
      const parsed = JSON.parse(res.body.toString('utf8')) as { outputs: Record<string, { data: number[] }> };
      const first = Object.values(parsed.outputs)[0];
      return Float32Array.from(first?.data ?? []);
    },
    close: () => agent.destroy(),
  };
}

/** `POST /v1/infer` with `application/octet-stream`: raw float32 both ways, dims in headers. */
export function binaryHttpClient(target: Target, input: BenchInput): PathClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
  const headers = {
    'content-type': 'application/octet-stream',
    'x-ef-input': input.name,
    'x-ef-dims': input.dims.join(','),
  };
  return {
    async call() {
      const res = await post(agent, target, headers, body);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString()}`);
      return floats(res.body);
    },
    close: () => agent.destroy(),
  };
}

/** The framed binary protocol (`serve/frame-protocol.ts`) on one kept-open socket connection. */
export async function frameClient(socketPath: string, input: BenchInput): Promise<PathClient> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(socketPath, () => resolve(s));
    s.once('error', reject);
  });
  socket.setNoDelay(true);
  const waiting = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  let buffered: Buffer = Buffer.alloc(0);
  let nextId = 1;
  socket.on('data', (part: Buffer) => {
    buffered = buffered.byteLength === 0 ? part : Buffer.concat([buffered, part]);
    for (;;) {
      const decoded = decodeInferFrame(buffered, 'response');
      if (decoded === null) return;
      buffered = buffered.subarray(decoded.bytes);
      const frame = decoded.frame;
      const w = waiting.get(frame.id);
      waiting.delete(frame.id);
      if (!w) continue;
      if (frame.kind === 'error') w.reject(new Error(`${frame.code}: ${frame.message}`));
      else w.resolve(frame.tensor.data);
    }
  });
  return {
    call() {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        socket.write(encodeInferFrame({ kind: 'request', id, tensor: { dims: input.dims, data: input.data } }));
      });
    },
    close: () => socket.destroy(),
  };
}

/**
 * The floor of any local API on this host: a bare `node` process that answers every request
 * frame on a Unix socket with a fixed response frame (the request's id copied in), doing no
 * inference, no decoding and no validation. What the agent's framed path adds over this is the
 * agent's own work; the rest is two processes waking each other.
 */
export async function startFrameEcho(
  socketPath: string,
  response: Buffer,
): Promise<{ readonly socketPath: string; readonly pid: number; stop(): void }> {
  const script = `
    const net = require('node:net');
    const template = Buffer.from(process.env.EF_ECHO_RESPONSE, 'base64');
    net.createServer((socket) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (part) => {
        buffered = buffered.length === 0 ? part : Buffer.concat([buffered, part]);
        while (buffered.length >= 8 && buffered.length >= 8 + buffered.readUInt32LE(4)) {
          const out = Buffer.from(template);
          buffered.copy(out, 8, 8, 12);
          buffered = buffered.subarray(8 + buffered.readUInt32LE(4));
          socket.write(out);
        }
      });
      socket.on('error', () => {});
    }).listen(${JSON.stringify(socketPath)}, () => process.stdout.write('listening\\n'));`;
  const child = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, EF_ECHO_RESPONSE: response.toString('base64') },
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`frame echo exited with code ${code}`)));
  });
  return { socketPath, pid: child.pid as number, stop: () => void child.kill('SIGKILL') };
}
