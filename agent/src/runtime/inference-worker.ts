/**
 * Entry of the inference worker thread: one model, one onnxruntime session, for the
 * worker's whole life. A new model means a new worker, because releasing sessions in a
 * long-lived process leaks native memory (mqtt-stack.md §7).
 *
 * The thread sleeps on the control word until the agent posts a request, takes every
 * request waiting on its port, answers each on the port and bumps the reply counter
 * (worker-protocol.ts). It never needs its event loop between requests, so a request costs
 * a futex wake instead of a libuv round trip.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { createOrtSession, type OrtModelSession } from './ort.js';
import { REPLIES, REQUESTS, type WorkerChannelData, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

const { port, control } = workerData as WorkerChannelData;
const counters = new Int32Array(control);
let session: OrtModelSession | null = null;

function reply(message: WorkerReply): void {
  const transfer =
    message.ok && 'outputs' in message.result
      ? Object.values(message.result.outputs).map((t) => t.data.buffer as ArrayBuffer)
      : [];
  port.postMessage(message, transfer);
  Atomics.add(counters, REPLIES, 1);
  Atomics.notify(counters, REPLIES);
}

async function handleRequest(request: WorkerRequest): Promise<void> {
  if (request.op === 'crash') throw new Error('injected worker crash');
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
      reply({ id: request.id, ok: false, error: { message: (err as Error).message ?? String(err), phase: 'load' } });
    }
    return;
  }
  try {
    if (!session) throw new Error('no model loaded in this worker');
    reply({ id: request.id, ok: true, result: await session.run(request.feeds) });
  } catch (err: unknown) {
    reply({ id: request.id, ok: false, error: { message: (err as Error).message ?? String(err), phase: 'run' } });
  }
}

async function serve(): Promise<void> {
  let taken = 0;
  for (;;) {
    // Sleeps while no request was posted since the last one taken; `terminate()` ends the wait.
    Atomics.wait(counters, REQUESTS, taken);
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
      taken += 1;
      // onnxruntime-node runs a session in a setImmediate: awaiting lets this thread's loop turn once.
      await handleRequest(next.message as WorkerRequest);
    }
  }
}

// An uncaught rejection ends the thread; the agent's 'error'/'exit' handlers report it as a crash.
void serve().catch((err: unknown) => {
  setImmediate(() => {
    throw err;
  });
});
