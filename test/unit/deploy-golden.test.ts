import t from 'tap';
import { decodeFloat32, encodeFloat32, goldenFeeds, scoreGolden } from '@edgefleet/agent';
import type { GoldenSet } from '@edgefleet/shared';

const golden = (labels: number[], minAccuracy = 1): GoldenSet => ({
  inputs: { x: { dims: [labels.length, 2], data: encodeFloat32(new Float32Array(labels.length * 2)) } },
  labels,
  minAccuracy,
});
const out = (rows: number[][]) => ({
  y: { dims: [rows.length, rows[0]?.length ?? 0], data: Float32Array.from(rows.flat()) },
});

t.test('float32 base64 round-trips, including unaligned buffers', async (t) => {
  const data = Float32Array.from([1.5, -2, 3.25]);
  t.same(Array.from(decodeFloat32(encodeFloat32(data))), Array.from(data));
  t.same(Array.from(decodeFloat32(encodeFloat32(data.subarray(1)))), [-2, 3.25]);
  t.throws(() => decodeFloat32(Buffer.from([1, 2, 3]).toString('base64')), RangeError);
});

t.test('scoring: argmax per row against labels, finiteness of every output', async (t) => {
  const table: Array<[string, number[], number[][], number, boolean]> = [
    [
      'all right',
      [0, 2],
      [
        [0.9, 0.05, 0.05],
        [0.1, 0.2, 0.7],
      ],
      1,
      true,
    ],
    [
      'one wrong',
      [0, 1],
      [
        [0.9, 0.05, 0.05],
        [0.1, 0.2, 0.7],
      ],
      0.5,
      true,
    ],
    [
      'all wrong',
      [1, 1],
      [
        [0.9, 0.05, 0.05],
        [0.1, 0.2, 0.7],
      ],
      0,
      true,
    ],
    [
      'NaN output',
      [1, 2],
      [
        [Number.NaN, 0, 0],
        [0, 0, 1],
      ],
      0.5,
      false,
    ],
    [
      'infinite output',
      [0, 2],
      [
        [Infinity, 0, 0],
        [0, 0, 1],
      ],
      1,
      false,
    ],
  ];
  for (const [name, labels, rows, accuracy, finite] of table) {
    const score = scoreGolden(golden(labels), out(rows), ['y']);
    t.equal(score.accuracy, accuracy, `${name}: accuracy`);
    t.equal(score.finite, finite, `${name}: finite`);
  }
});

t.test('a golden set that does not fit the model is refused, not mis-scored', async (t) => {
  t.throws(() => scoreGolden({ ...golden([0]), output: 'z' }, out([[1, 0]]), ['y']), /does not produce/);
  t.throws(
    () =>
      scoreGolden(
        golden([0, 1, 1]),
        out([
          [1, 0],
          [0, 1],
        ]),
        ['y'],
      ),
    /not 3 rows/,
  );
  t.throws(
    () => goldenFeeds({ ...golden([0, 1]), inputs: { x: { dims: [2, 3], data: encodeFloat32(new Float32Array(4)) } } }),
    /4 values for dims/,
  );
  t.throws(
    () => goldenFeeds({ ...golden([0]), inputs: { x: { dims: [2, 2], data: encodeFloat32(new Float32Array(4)) } } }),
    /batch 2 but 1 labels/,
  );
  t.same(Object.keys(goldenFeeds(golden([0, 1]))), ['x']);
});
