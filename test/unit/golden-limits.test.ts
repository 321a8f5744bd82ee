/**
 * One golden-set limit (issue 21): the schema's, stated in rows of the model at hand, and the
 * admin API's body limit for rollouts, which the largest valid golden set fits; and the
 * server's scoring, which must agree with the agent's smoke test.
 */
import t from 'tap';
import { scoreGolden } from '@edgefleet/agent/swap/golden';
import {
  base64DecodedBytes,
  describeGoldenLimit,
  GOLDEN_BODY_LIMIT_BYTES,
  goldenSetSchema,
  MAX_GOLDEN_BYTES,
  MAX_GOLDEN_LABEL,
  MAX_GOLDEN_ROWS,
  maxGoldenRows,
  rolloutStartSchema,
  scoreGoldenOutputs,
} from '@edgefleet/shared';

const b64 = (bytes: number) => Buffer.alloc(bytes).toString('base64');

t.test('the limit in rows: 31 MNIST images of 3,136 bytes', async (t) => {
  t.equal(maxGoldenRows(3136), 31);
  t.equal(maxGoldenRows(4), MAX_GOLDEN_ROWS, 'tiny rows are bounded by the label count');
  t.match(describeGoldenLimit(3136), /^at most 31 rows \(images\) of 3,136 bytes each for this model \(96 KiB/);
  for (const n of [0, 1, 2, 3, 3136, 98_304]) t.equal(base64DecodedBytes(b64(n)), n);
  const golden = (rows: number) => ({
    inputs: { input: { dims: [rows, 784], data: b64(rows * 3136) } },
    labels: Array.from({ length: rows }, () => 7),
    minAccuracy: 0.9,
  });
  t.ok(goldenSetSchema.safeParse(golden(31)).success);
  const refused = goldenSetSchema.safeParse(golden(32));
  t.notOk(refused.success);
  t.match(refused.error?.issues[0]?.message, /32 rows, 100,352 bytes of input data; at most 31 rows \(images\)/);
  // Two inputs count together.
  const two = {
    ...golden(16),
    inputs: { a: { dims: [16, 784], data: b64(16 * 3136) }, b: { dims: [16, 784], data: b64(16 * 3136) } },
  };
  t.match(goldenSetSchema.safeParse(two).error?.issues[0]?.message, /at most 15 rows \(images\) of 6,272 bytes/);
});

t.test('the largest body the rollout schema accepts fits the route body limit', async (t) => {
  const name = 'n'.repeat(128);
  const body = {
    deviceClass: 'c'.repeat(64),
    variant: 'f'.repeat(64),
    variantId: `v-${'x'.repeat(126)}`,
    golden: {
      inputs: { [name]: { dims: [MAX_GOLDEN_ROWS, 6, 1, 1, 1, 1, 1, 1], data: b64(MAX_GOLDEN_BYTES) } },
      output: name,
      labels: Array.from({ length: MAX_GOLDEN_ROWS }, () => MAX_GOLDEN_LABEL),
      minAccuracy: 0.123456789,
    },
    policy: {
      canary: { percent: 12.5 },
      baseCount: 1000,
      growthFactor: 2.5,
      abort: { failedPct: 20, timedOutPct: 20, minFinished: 3 },
      deviceTimeoutMs: 600000,
      rolloutTimeoutMs: 7200000,
    },
  };
  const parsed = rolloutStartSchema.safeParse(body);
  t.ok(parsed.success, parsed.error?.message ?? 'valid');
  const size = Buffer.byteLength(JSON.stringify(body));
  t.ok(
    size < GOLDEN_BODY_LIMIT_BYTES - 64 * 1024,
    `${size} bytes, with room to spare under ${GOLDEN_BODY_LIMIT_BYTES}`,
  );
});

t.test("the server's scoring is the agent's smoke test, and top-1 on random outputs", async (t) => {
  t.equal(scoreGolden, scoreGoldenOutputs, 'one implementation: the agent re-exports shared');
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let round = 0; round < 20; round += 1) {
    const rows = 1 + Math.floor(rand() * 9);
    const width = 2 + Math.floor(rand() * 9);
    const data = Float32Array.from({ length: rows * width }, () => Math.round(rand() * 4) / 4);
    const golden = {
      inputs: {},
      labels: Array.from({ length: rows }, () => Math.floor(rand() * width)),
      minAccuracy: 0,
    };
    const outputs = { y: { dims: [rows, width], data } };
    // Top-1 computed independently here: the first index of the row's maximum.
    let correct = 0;
    for (let r = 0; r < rows; r += 1) {
      const row = Array.from(data.subarray(r * width, (r + 1) * width));
      if (row.indexOf(Math.max(...row)) === golden.labels[r]) correct += 1;
    }
    t.same(
      scoreGolden(golden, outputs, ['y']),
      { accuracy: correct / rows, correct, rows, finite: true },
      `round ${round}`,
    );
  }
  t.throws(() => scoreGoldenOutputs({ labels: [1], output: 'z' }, {}, ['y']), /scores output z/);
});
