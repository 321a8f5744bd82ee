/**
 * Entry of the inference worker thread: one model, one onnxruntime session, for the
 * worker's whole life. A new model means a new worker, because releasing sessions in a
 * long-lived process leaks native memory (mqtt-stack.md §7).
 */
import { parentPort } from 'node:worker_threads';
import { createOrtSession, type OrtModelSession } from './ort.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

/**
 * The error's message. Not `asError` from @edgefleet/shared: the worker imports nothing but
 * onnxruntime, so each worker's isolate does not compile the protocol's schemas (and the
 * worker also starts where only the built agent exists, e.g. bench:agent's in-process path).
 */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');

let session: OrtModelSession | null = null;

function reply(message: WorkerReply): void {
  const transfer =
    message.ok && 'outputs' in message.result
      ? Object.values(message.result.outputs).map((t) => t.data.buffer as ArrayBuffer)
      : [];
  port?.postMessage(message, transfer);
}

async function handleRequest(request: WorkerRequest): Promise<void> {
  if (request.op === 'load') {
    try {
      if (session) throw new Error('this worker already holds a model; start a fresh worker for another');
      const started = performance.now();
      session = await createOrtSession(request.bytes, { intraOpNumThreads: request.intraOpNumThreads });
      reply({
        id: request.id,
        ok: true,
        result: {
          inputNames: session.inputNames,
          outputNames: session.outputNames,
          loadMs: performance.now() - started,
        },
      });
    } catch (err: unknown) {
      reply({ id: request.id, ok: false, error: { message: messageOf(err), phase: 'load' } });
    }
    return;
  }
  try {
    if (!session) throw new Error('no model loaded in this worker');
    reply({ id: request.id, ok: true, result: await session.run(request.feeds) });
  } catch (err: unknown) {
    reply({ id: request.id, ok: false, error: { message: messageOf(err), phase: 'run' } });
  }
}

port.on('message', (request: WorkerRequest) => {
  void handleRequest(request);
});
