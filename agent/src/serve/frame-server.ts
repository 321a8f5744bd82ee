/**
 * Serves the framed binary protocol (frame-protocol.ts) on one client connection: frames are
 * answered in the order they finish, each with its request's id. A frame that cannot be read
 * gets an error frame and the connection is closed (its stream position is lost); a request
 * the model refuses gets an error frame and the connection stays open.
 *
 * The serving path is kept to its fixed costs, for small models whose run takes tens of µs
 * (`npm run bench:agent`, docs/design-notes.md "The framed socket"): a frame that arrives in
 * one read is decoded in place (a frame split over reads is joined once, when it is whole,
 * not on every read); the inference runs on the agent thread when the model serves inline,
 * with no worker message; and each response leaves in one `write()` of one buffer.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { asError, isEdgefleetError } from '@edgefleet/shared/device';
import type { FloatTensor } from '../runtime/ort.js';
import { noModelError, type InferenceResult, type ServingRuntime } from '../runtime/serving.js';
import { decodeInferFrame, encodeInferFrame, FrameError, frameBytes, MAX_FRAME_BYTES } from './frame-protocol.js';

export interface FrameConnectionOptions {
  readonly serving: ServingRuntime;
  readonly logger: Logger;
  readonly maxFrameBytes?: number;
}

/**
 * A connection's unread bytes as the chunks they arrived in. `next()` hands out one whole
 * frame: a view of its chunk when the frame lies in one (the usual case), else one copy of
 * exactly its bytes. Joining every read into one growing buffer would copy a 16 MB frame
 * that arrives in 64 kB reads ~250 times.
 */
export function createFrameReader(max: number) {
  const chunks: Buffer[] = [];
  let held = 0;

  function take(bytes: number): Buffer {
    const first = chunks[0] as Buffer;
    if (first.byteLength >= bytes) {
      chunks[0] = first.subarray(bytes);
      if ((chunks[0] as Buffer).byteLength === 0) chunks.shift();
      held -= bytes;
      return first.subarray(0, bytes);
    }
    const whole = Buffer.concat(chunks, held);
    chunks.length = 0;
    if (whole.byteLength > bytes) chunks.push(whole.subarray(bytes));
    held -= bytes;
    return whole.subarray(0, bytes);
  }

  return {
    push(part: Buffer): void {
      if (part.byteLength === 0) return;
      chunks.push(part);
      held += part.byteLength;
    },
    /** The next whole frame's bytes, or null until it has all arrived; throws FrameError on a bad header. */
    next(): Buffer | null {
      if (held < 8) return null;
      // A header split over reads (rare): join what is held once, so the header can be read.
      if ((chunks[0] as Buffer).byteLength < 8) chunks.splice(0, chunks.length, Buffer.concat(chunks, held));
      const bytes = frameBytes(chunks[0] as Buffer, 'request', max);
      if (bytes === null || held < bytes) return null;
      return take(bytes);
    },
    clear(): void {
      chunks.length = 0;
      held = 0;
    },
  };
}

/** Takes over `socket`; `first` holds bytes already read from it (the protocol sniff). */
export function serveFrameConnection(socket: Socket, first: Buffer, options: FrameConnectionOptions): void {
  const { serving } = options;
  const reader = createFrameReader(options.maxFrameBytes ?? MAX_FRAME_BYTES);
  reader.push(first);
  socket.setNoDelay?.(true);

  function fail(id: number, code: string, message: string): void {
    if (!socket.destroyed) socket.write(encodeInferFrame({ kind: 'error', id, code, message }));
  }

  function failWith(id: number, err: unknown): void {
    if (isEdgefleetError(err)) {
      fail(id, err.code, err.message);
      return;
    }
    options.logger.error({ err }, 'local API frame failed');
    fail(id, 'internal', asError(err).message);
  }

  function respond(id: number, result: InferenceResult): void {
    // The first output: a plain loop, not Object.entries, on the path every request takes.
    for (const name in result.outputs) {
      const tensor = result.outputs[name] as FloatTensor;
      if (!socket.destroyed) socket.write(encodeInferFrame({ kind: 'response', id, name, tensor }));
      return;
    }
    fail(id, 'EF_ERR_SERVE_BAD_REQUEST', 'the model returned no output');
  }

  // Not an async function: the answer is written in the same microtask that hands over the result.
  function answer(id: number, name: string | undefined, tensor: FloatTensor): void {
    const input = name ?? serving.inputNames()[0];
    if (serving.current() === null) failWith(id, noModelError());
    else if (input === undefined) fail(id, 'EF_ERR_SERVE_BAD_REQUEST', 'the serving model declares no inputs');
    else {
      serving.infer({ [input]: tensor }, { transfer: true }).then(
        (result) => respond(id, result),
        (err: unknown) => failWith(id, err),
      );
    }
  }

  function drain(): void {
    for (;;) {
      let frame: ReturnType<typeof decodeInferFrame>;
      try {
        const bytes = reader.next();
        if (bytes === null) return;
        frame = decodeInferFrame(bytes, 'request', options.maxFrameBytes ?? MAX_FRAME_BYTES);
      } catch (err: unknown) {
        fail(0, 'EF_ERR_SERVE_BAD_REQUEST', err instanceof FrameError ? err.message : String(err));
        socket.end();
        reader.clear();
        return;
      }
      if (frame?.frame.kind === 'request') answer(frame.frame.id, frame.frame.name, frame.frame.tensor);
    }
  }

  socket.on('data', (part: Buffer) => {
    reader.push(part);
    drain();
  });
  socket.on('error', () => undefined);
  drain();
}
