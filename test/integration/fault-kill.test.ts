/**
 * kill -9 at each step of a rollout (issue 18 fault suite). The steps are the device's swap
 * steps, which are data (SWAP_STEP_DEFS): for each one a rollout starts, the agent is held in
 * that step (in `download`, after its first chunk is on disk), the server process is killed
 * with SIGKILL, then the held agent process, and both are started again (server first) on the
 * same data directories and ports. Found, per step: the rollout completes and the
 * device serves the new model (convergence); at the end the SQLite file passes
 * integrity_check, every stored artifact on both sides hashes to its name, no partial
 * download or temporary file is left, and the agent's state file names the last model.
 * Real processes throughout: `edgefleet server` and the real device in test/helpers/fault-agent.ts.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { SWAP_STEP_DEFS } from '@edgefleet/agent';
import { openSqliteStore, STORE_FILE } from '@edgefleet/server';
import { createArtifactStore } from '@edgefleet/server/deploy/index';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { api, holdAt, startFaultAgent, startServerProcess, type Proc } from '../helpers/fault-rig.js';
import { freePort } from './mosquitto-suite.js';
import { waitFor } from './presence-suite.js';

/** 2,048 hidden units: ~164 KB, two chunks of 128 KiB, so a download can be cut between them. */
const HIDDEN = 2048;
const SEED = 500;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Files of `dir` whose name is not the sha256 of their bytes (`.onnx` and `.onnx.gz` skipped: encoded twins). */
function misnamed(dir: string): string[] {
  return readdirSync(dir).filter(
    (f) => !(f.endsWith('.onnx') && sha256(readFileSync(join(dir, f))) === f.slice(0, 64)),
  );
}

t.test('kill -9 of server and agent at each swap step: every rollout converges, nothing is corrupted', async (t) => {
  const dataDir = t.testdir();
  const serverDir = join(dataDir, 'server');
  const agentDir = join(dataDir, 'agent');
  const controlFile = join(dataDir, 'control.json');
  const [port, apiPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${apiPort}`;
  const steps = SWAP_STEP_DEFS.map((s) => s.name);

  // One artifact per step, stored before the server first starts (the store is the server's once it runs).
  const store = openSqliteStore({ dataDir: serverDir });
  const artifacts = createArtifactStore({ dataDir: serverDir, artifacts: store.repos.artifacts, now: Date.now });
  const shas: string[] = [];
  for (const i of steps.keys()) shas.push((await artifacts.put(buildClassifier(SEED + i, HIDDEN))).sha256);
  await store.close();

  let server: Proc = await startServerProcess(serverDir, port, apiPort);
  holdAt(controlFile, null);
  const spec = {
    deviceId: 'fault-1',
    deviceClass: 'rpi4',
    brokerUrl: `mqtt://127.0.0.1:${port}`,
    dataDir: agentDir,
    trustedKeysFile: join(serverDir, 'keys', 'trusted-keys.txt'),
    controlFile,
  };
  let agent: Proc = await startFaultAgent(spec, dataDir);
  t.teardown(async () => {
    await agent.kill9();
    await server.kill9();
  });
  const device = () => api<{ state: string; currentModel: string | null }>(base, 'GET', '/v1/devices/fault-1');
  await waitFor(async () => (await device().catch(() => null))?.state === 'online', 30_000, 'the agent online');

  const found: string[] = [];
  for (const [i, step] of steps.entries()) {
    holdAt(controlFile, step);
    const started = await api<{ rollout: { id: string } }>(base, 'POST', '/v1/rollouts', {
      deviceClass: 'rpi4',
      variant: shas[i],
      golden: goldenFor(SEED + i, 8, { hidden: HIDDEN }),
    });
    const id = started.rollout.id;
    await agent.waitFor(new RegExp(`FAULT-HELD ${step} `), 60_000);
    // The server dies first (the held agent sees its broker go), then the agent; the server
    // starts again before the agent, which then connects at once instead of backing off.
    await server.kill9();
    await agent.kill9();
    holdAt(controlFile, null);
    server = await startServerProcess(serverDir, port, apiPort);
    agent = await startFaultAgent(spec, dataDir);
    let state = '';
    await waitFor(
      async () => {
        state = (await api<{ rollout: { state: string } }>(base, 'GET', `/v1/rollouts/${id}`)).rollout.state;
        return state !== 'in-progress' && (await device()).currentModel === shas[i];
      },
      90_000,
      `rollout ${i} (${step}) to finish`,
    ).catch(async (err: unknown) => {
      const status = await api(base, 'GET', `/v1/rollouts/${id}`).catch((e: unknown) => String(e));
      throw new Error(`${String(err)}; rollout ${JSON.stringify(status)}; agent: ${agent.output().slice(-1500)}`);
    });
    t.equal(state, 'completed', `killed at ${step}: the rollout completed and the device serves the new model`);
    found.push(`${step}:${state}`);
  }

  await agent.kill9();
  t.equal(await server.stop(), 0, 'the last server stops cleanly');
  const db = new Database(join(serverDir, STORE_FILE), { readonly: true });
  const check = db.pragma('integrity_check', { simple: true });
  db.close();
  t.equal(check, 'ok', 'SQLite integrity_check: ok');
  const serverArtifacts = join(serverDir, 'artifacts');
  t.same(
    misnamed(serverArtifacts).filter((f) => !f.endsWith('.onnx.gz')),
    [],
    'every server artifact hashes to its name',
  );
  t.same(misnamed(join(agentDir, 'artifacts')), [], 'every agent artifact hashes to its name, nothing else there');
  t.same(readdirSync(join(agentDir, 'downloads')), [], 'no partial download left behind');
  const state = JSON.parse(readFileSync(join(agentDir, 'state.json'), 'utf8')) as { current?: { sha256: string } };
  t.equal(state.current?.sha256, shas.at(-1), 'the state file names the last model');
  t.comment(
    `tried: ${steps.length} rollouts, each with the server, then the agent killed (SIGKILL) while the agent was ` +
      `held at one swap step (${steps.join(', ')}): ${steps.length * 2} kills, ${steps.length * 2} restarts; ` +
      `found: ${found.join(', ')}; integrity ${check}; agent artifacts ${readdirSync(join(agentDir, 'artifacts')).length}`,
  );
});
