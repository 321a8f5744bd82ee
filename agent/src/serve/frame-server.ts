/**
 * Serves the framed binary protocol (frame-protocol.ts) on one client connection: frames are
 * answered in the order they finish, each with its request's id. A frame that cannot be read
 * gets an error frame and the connection is closed (its stream position is lost); a request
 * the model refuses gets an error frame and the connection stays open.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { asError, isEdgefleetError } from '@edgefleet/shared/device';
import { noModelError, type ServingRuntime } from '../runtime/serving.js';
import { decodeInferFrame, encodeInferFrame, FrameError, MAX_FRAME_BYTES } from './frame-protocol.js';

export interface FrameConnectionOptions {
  readonly serving: ServingRuntime;
  readonly logger: Logger;
  readonly maxFrameBytes?: number;
}

/** Takes over `socket`; `first` holds bytes already read from it (the protocol sniff). */
export function serveFrameConnection(socket: Socket, first: Buffer, options: FrameConnectionOptions): void {
  const { serving } = options;
  const max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  let buffered: Buffer = first;
  socket.setNoDelay?.(true);

  function fail(id: number, code: string, message: string): void {
    if (!socket.destroyed) socket.write(encodeInferFrame({ kind: 'error', id, code, message }));
  }

  async function answer(id: number, name: string | undefined, tensor: { dims: number[]; data: Float32Array }) {
    try {
      if (serving.current() === null) throw noModelError();
      const input = name ?? serving.inputNames()[0];
      if (input === undefined) throw Object.assign(new Error('the serving model declares no inputs'), { bad: true });
      const result = await serving.infer({ [input]: tensor }, { transfer: true });
      const [outName, output] = Object.entries(result.outputs)[0] ?? [];
      if (outName === undefined || output === undefined) return fail(id, 'EF_ERR_SERVE_BAD_REQUEST', 'no output');
      if (!socket.destroyed) socket.write(encodeInferFrame({ kind: 'response', id, name: outName, tensor: output }));
    } catch (err: unknown) {
      if (isEdgefleetError(err)) return fail(id, err.code, err.message);
      const bad = (err as { bad?: boolean }).bad === true;
      if (!bad) options.logger.error({ err }, 'local API frame failed');
      fail(id, bad ? 'EF_ERR_SERVE_BAD_REQUEST' : 'internal', asError(err).message);
    }
  }

  function drain(): void {
    for (;;) {
      let decoded: ReturnType<typeof decodeInferFrame>;
      try {
        decoded = decodeInferFrame(buffered, 'request', max);
      } catch (err: unknown) {
        fail(0, 'EF_ERR_SERVE_BAD_REQUEST', err instanceof FrameError ? err.message : String(err));
        socket.end();
        buffered = Buffer.alloc(0);
        return;
      }
      if (decoded === null) return;
      buffered = buffered.subarray(decoded.bytes);
      const { frame } = decoded;
      if (frame.kind === 'request')
        void answer(frame.id, frame.name, { dims: [...frame.tensor.dims], data: frame.tensor.data });
    }
  }

  socket.on('data', (part: Buffer) => {
    buffered = buffered.byteLength === 0 ? part : Buffer.concat([buffered, part]);
    drain();
  });
  socket.on('error', () => undefined);
  drain();
}
