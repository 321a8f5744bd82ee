/**
 * `edgefleet farm --faults FILE`: a schedule whose startAt counts from the farm's start; a file
 * that is not JSON or breaks the fault schema is refused with its path and reason (exit 2).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readFaultFile } from '@edgefleet/cli/commands/farm';
import { runCli } from '../helpers/run-cli.js';

t.test('startAt in the file counts from the farm start', async (t) => {
  const file = join(t.testdir(), 'faults.json');
  writeFileSync(
    file,
    JSON.stringify([
      { kind: 'thermal-throttle', target: { deviceClass: 'rpi4' }, startAt: 30_000, slowdown: 2 },
      { kind: 'disconnect', target: { deviceIds: ['sim-01'] }, startAt: 0, durationMs: 5_000 },
    ]),
  );
  const faults = readFaultFile(file, 1_000_000);
  t.same(
    faults.map((f) => [f.kind, f.startAt]),
    [
      ['thermal-throttle', 1_030_000],
      ['disconnect', 1_000_000],
    ],
  );
  t.equal(faults[0]?.kind === 'thermal-throttle' ? faults[0].rampMs : null, 120_000, 'defaults filled in');
});

t.test('bad files are refused with the reason, before any device starts', async (t) => {
  const dir = t.testdir({
    'not-json.json': '[{',
    'bad.json': JSON.stringify([{ kind: 'meteor', target: {}, startAt: 0 }]),
    'no-target.json': JSON.stringify([{ kind: 'crash', target: {}, startAt: 0 }]),
  });
  t.throws(() => readFaultFile(join(dir, 'missing.json'), 0), /--faults .*missing\.json: not a readable JSON file/);
  t.throws(() => readFaultFile(join(dir, 'not-json.json'), 0), /not a readable JSON file/);
  t.throws(() => readFaultFile(join(dir, 'bad.json'), 0), /--faults .*bad\.json: .*kind/s);
  t.throws(() => readFaultFile(join(dir, 'no-target.json'), 0), /a fault targets a deviceClass or deviceIds/);
  const r = await runCli([
    'farm',
    '--devices',
    '1',
    '--broker',
    'mqtt://127.0.0.1:1',
    '--faults',
    join(dir, 'bad.json'),
  ]);
  t.equal(r.code, 2, 'exit code 2');
  t.match(r.err, /--faults/, 'the message names the flag');
});
