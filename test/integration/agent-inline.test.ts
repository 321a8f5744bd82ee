/**
 * Inline serving (agent/src/runtime/inline-*.ts): a small model moves from its worker onto
 * the agent's thread after it has proven itself there, answers bit for bit as the worker
 * did, and is contained when it fails: a model whose watchdog process is killed goes back to
 * a worker, an agent that dies while serving inline (here: its watchdog kills a run that
 * really hangs inside onnxruntime, in a real child process) serves that model from a worker
 * from then on. Real onnxruntime, real models, real processes and signals.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createDevice, type Device } from '@edgefleet/agent';
import type { InlinePolicy } from '@edgefleet/agent/runtime/inline-policy';
import { linkOptions } from '../helpers/agent-fixtures.js';
import { buildInputDependentLoop, HANG_INPUT } from '../fixtures/hang-models.js';
import { mnistInput, seedMnistCnn, seedModel } from '../helpers/seeded-agent.js';
import { spawnSnippet } from '../helpers/spawn-ts.js';

const silent = pino({ level: 'silent' });
// Nothing listens on port 1: the link keeps retrying, which a device serving offline does.
const NO_BROKER = 'mqtt://127.0.0.1:1';

async function bootDevice(dataDir: string, inline: InlinePolicy | undefined): Promise<Device> {
  const device = await createDevice({
    link: linkOptions({ brokerUrl: NO_BROKER, deviceId: 'inline-dev', logger: silent }),
    dataDir,
    trustedKeys: [],
    logger: silent,
    telemetry: false,
    ...(inline ? { inline } : {}),
  });
  await device.start();
  await device.idle();
  return device;
}

function inlineState(dataDir: string): { serving: string | null; refused: string[]; proven: string[] } {
  return JSON.parse(readFileSync(join(dataDir, 'inline.json'), 'utf8'));
}

/** Pids of the inline watchdogs (run-watchdog.ts) whose parent is `pid`, read from /proc. */
function watchdogsOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
        return Number(ppid) === pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('edgefleet-watchdog');
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

const feeds = () => ({ input: { dims: [1, 1, 28, 28], data: mnistInput() } });
/** The model's one output (mnist-cnn: ten class scores) as plain numbers. */
const scores = (outputs: Record<string, { data: Float32Array }>) => Array.from(Object.values(outputs)[0]?.data ?? []);

t.test('a small model serves inline, answers as its worker did, and a clean stop clears the mark', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ef-inline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sha = await seedMnistCnn(dir, 'inline-dev');
  const viaWorker = await bootDevice(dir, undefined);
  t.equal(viaWorker.serving.current()?.worker.kind, 'worker', 'no policy: a worker');
  const expected = await viaWorker.serving.infer(feeds());
  await viaWorker.stop();

  const device = await bootDevice(dir, { maxRunMs: 100 });
  t.equal(device.serving.current()?.worker.kind, 'inline', 'promoted to the agent thread');
  t.equal(inlineState(dir).serving, sha, 'marked as serving inline');
  const got = await device.serving.infer(feeds());
  t.equal(scores(expected.outputs).length, 10);
  t.same(scores(got.outputs), scores(expected.outputs), 'same numbers');
  await device.stop();
  t.same(inlineState(dir), { serving: null, refused: [], proven: [sha] }, 'a clean stop is not held against it');

  const restarted = await bootDevice(dir, { maxRunMs: 100 });
  t.equal(restarted.serving.current()?.worker.kind, 'inline', 'a proven model loads inline at boot');
  t.equal(inlineState(restarted.store.dataDir).serving, sha);
  t.same(scores((await restarted.serving.infer(feeds())).outputs), scores(expected.outputs), 'same numbers again');
  await restarted.stop();
});

t.test('a model slower than the policy keeps its worker; 0 turns inline off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ef-inline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await seedMnistCnn(dir, 'inline-dev');
  for (const maxRunMs of [1e-9, 0]) {
    const device = await bootDevice(dir, { maxRunMs });
    t.equal(device.serving.current()?.worker.kind, 'worker', `maxRunMs ${maxRunMs}`);
    await device.stop();
  }
});

t.test('an inline model whose watchdog is killed goes back to a worker, and is not refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ef-inline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sha = await seedMnistCnn(dir, 'inline-dev');
  const device = await bootDevice(dir, { maxRunMs: 100 });
  t.teardown(() => device.stop());
  t.equal(device.serving.current()?.worker.kind, 'inline');
  const supervisors = watchdogsOf(process.pid);
  t.equal(supervisors.length, 1, 'one watchdog process, a child of the agent');
  // A real fault: the supervisor killed from outside (by hand, or by the OOM killer).
  process.kill(supervisors[0] ?? 0, 'SIGKILL');
  for (let i = 0; i < 200 && device.serving.current()?.worker.kind !== 'worker'; i += 1)
    await new Promise((r) => setTimeout(r, 25));
  t.equal(device.serving.current()?.worker.kind, 'worker', 'back in a worker');
  t.equal(scores((await device.serving.infer(feeds())).outputs).length, 10, 'still answers');
  t.same(inlineState(dir), { serving: null, refused: [], proven: [sha] }, 'not held against the model');
  await device.stop();
  t.same(watchdogsOf(process.pid), [], 'no watchdog left behind');
});

t.test(
  'an inline run that hangs in onnxruntime: the watchdog kills the agent, which then serves the model from a worker',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ef-inline-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // y = x through a Loop of max(x)·10¹² iterations: the zero golden row is instant, a 1 hangs for days.
    const zeros = new Float32Array(4);
    const sha = await seedModel(dir, 'inline-dev', buildInputDependentLoop(), { ...HANG_INPUT, data: zeros });
    const child = spawnSnippet(`
    import { pino } from 'pino';
    import { createDevice } from '@edgefleet/agent';
    const device = await createDevice({
      link: { deviceId: 'inline-dev', deviceClass: 'rpi4', agentVersion: '0.1.0',
        runtime: { node: process.version, onnxruntime: '1.30.0' },
        capabilities: { cpuModel: 'x', cores: 1, memoryBytes: 1 << 30, executionProviders: ['cpu'],
          precisions: ['fp32'], powerSource: 'none' },
        brokerUrl: ${JSON.stringify(NO_BROKER)}, keepaliveS: 2, heartbeatMs: 200 },
      dataDir: ${JSON.stringify(dir)}, trustedKeys: [], logger: pino({ level: 'silent' }), telemetry: false,
      inline: { maxRunMs: 100, hangDeadlineMs: 1000 },
    });
    await device.start();
    await device.idle();
    console.log('serving ' + device.serving.current().worker.kind);
    await device.serving.infer({ input: { dims: [1, 4], data: Float32Array.from([0, 0, 0, 1]) } });
    console.log('the hung run returned');
  `);
    await child.waitForOutput(/serving inline/, 60_000);
    const code = await child.exited;
    t.equal(child.proc.signalCode, 'SIGKILL', `killed by its watchdog (exit code ${code})`);
    t.match(child.output(), /inline inference hung/, 'said why on stderr');
    t.notMatch(child.output(), /the hung run returned/);
    t.equal(inlineState(dir).serving, sha, 'died marked as serving inline');

    const restarted = await bootDevice(dir, { maxRunMs: 100 });
    t.teardown(() => restarted.stop());
    t.equal(restarted.serving.current()?.worker.kind, 'worker', 'the restarted agent keeps it in a worker');
    t.same(inlineState(dir), { serving: null, refused: [sha], proven: [sha] });
    const answer = await restarted.serving.infer({ input: { dims: [1, 4], data: Float32Array.from([0, 0, 0, 0]) } });
    t.same(scores(answer.outputs), [0, 0, 0, 0], 'and serves it');
  },
);
