/** The local API's framed binary protocol: round trips, partial reads, and every malformed frame refused. */
import t from 'tap';
import { decodeInferFrame, encodeInferFrame, FrameError, type InferFrame } from '@edgefleet/agent/serve/frame-protocol';
import { createFrameReader } from '@edgefleet/agent/serve/frame-server';

const tensor = { dims: [1, 3], data: Float32Array.from([0.5, -1, 3.25]) };

t.test('request, response and error frames round-trip', async (t) => {
  const table: Array<[InferFrame, 'request' | 'response']> = [
    [{ kind: 'request', id: 1, tensor }, 'request'],
    [{ kind: 'request', id: 0xffffffff, name: 'input', tensor }, 'request'],
    [{ kind: 'response', id: 7, name: 'logits', tensor }, 'response'],
    [{ kind: 'error', id: 9, code: 'EF_ERR_SERVE_NO_MODEL', message: 'no model' }, 'response'],
  ];
  for (const [frame, expect] of table) {
    const bytes = encodeInferFrame(frame);
    const decoded = decodeInferFrame(bytes, expect);
    if (decoded === null) {
      t.fail(`${frame.kind} ${frame.id}: a whole frame decoded as incomplete`);
      continue;
    }
    t.equal(decoded.bytes, bytes.byteLength, `${frame.kind} ${frame.id}: whole frame used`);
    if (frame.kind === 'error') t.same(decoded.frame, frame);
    else {
      t.match(decoded.frame, { kind: frame.kind, id: frame.id, tensor: { dims: tensor.dims } });
      const data = (decoded.frame as { tensor: { data: Float32Array } }).tensor.data;
      t.same(Array.from(data), Array.from(tensor.data));
    }
  }
});

t.test('a frame split anywhere waits for its rest; two frames in one buffer decode one by one', async (t) => {
  const a = encodeInferFrame({ kind: 'request', id: 1, tensor });
  const b = encodeInferFrame({ kind: 'request', id: 2, tensor });
  for (let cut = 0; cut < a.byteLength; cut += 1) t.equal(decodeInferFrame(a.subarray(0, cut), 'request'), null);
  const both = Buffer.concat([a, b]);
  const first = decodeInferFrame(both, 'request');
  t.equal(first?.frame.id, 1);
  t.equal(decodeInferFrame(both.subarray(first?.bytes ?? 0), 'request')?.frame.id, 2);
});

t.test('malformed frames throw FrameError', async (t) => {
  const good = encodeInferFrame({ kind: 'request', id: 1, tensor });
  const withLength = (frame: Buffer, length: number) => {
    const copy = Buffer.from(frame);
    copy.writeUInt32LE(length, 4);
    return copy;
  };
  const table: Array<[string, Buffer, RegExp]> = [
    ['wrong magic', Buffer.concat([Buffer.from('HTTP'), good.subarray(4)]), /magic EFQ1/],
    ['a response where a request is expected', encodeInferFrame({ kind: 'response', id: 1, tensor }), /magic EFQ1/],
    ['too large', withLength(good, 64 * 1024 * 1024), /exceeds/],
    ['too short', withLength(Buffer.alloc(16, 0).fill('EFQ1', 0, 4), 2), /too short/],
    [
      'data shorter than the dims',
      withLength(good.subarray(0, good.byteLength - 4), good.byteLength - 12),
      /needs 12 data bytes/,
    ],
    ['rank 0', Buffer.from('EFQ1\x06\x00\x00\x00\x01\x00\x00\x00\x00\x00', 'latin1'), /rank 0/],
  ];
  for (const [what, bytes, message] of table) {
    let thrown: unknown = null;
    try {
      decodeInferFrame(bytes, 'request');
    } catch (err: unknown) {
      thrown = err;
    }
    t.ok(thrown instanceof FrameError, `${what}: a FrameError`);
    t.match((thrown as Error | null)?.message, message, what);
  }
});

t.test('the frame reader hands out whole frames however the reads split them, copying only split frames', async (t) => {
  const a = encodeInferFrame({ kind: 'request', id: 1, tensor });
  const b = encodeInferFrame({ kind: 'request', id: 2, name: 'input', tensor });
  const stream = Buffer.concat([a, b, a]);
  const ids = (frames: Buffer[]) => frames.map((f) => decodeInferFrame(f, 'request')?.frame.id);
  for (let cut = 1; cut < stream.byteLength; cut += 1) {
    const reader = createFrameReader(1024);
    const got: Buffer[] = [];
    for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
      reader.push(part);
      for (let f = reader.next(); f !== null; f = reader.next()) got.push(f);
    }
    if (JSON.stringify(ids(got)) !== '[1,2,1]') t.fail(`cut at ${cut}: frames ${JSON.stringify(ids(got))}`);
  }
  // One byte per read: the worst split, still three frames.
  const reader = createFrameReader(1024);
  const got: Buffer[] = [];
  for (let i = 0; i < stream.byteLength; i += 1) {
    reader.push(stream.subarray(i, i + 1));
    for (let f = reader.next(); f !== null; f = reader.next()) got.push(f);
  }
  t.same(ids(got), [1, 2, 1], 'byte by byte');
  // A frame that arrives whole in one read is a view of that read, not a copy.
  const whole = createFrameReader(1024);
  whole.push(stream);
  t.equal(whole.next()?.buffer, stream.buffer, 'a frame inside one read is not copied');
  t.throws(() => {
    const bad = createFrameReader(16);
    bad.push(a);
    bad.next();
  }, /frame of 26 bytes exceeds 16/);
});
