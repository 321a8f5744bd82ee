/**
 * kill -9 at each step of a rollout (issue 18 fault suite). The steps are the device's swap
 * steps, which are data (SWAP_STEP_DEFS). One rollout is held step by step: the agent is held
 * in a step (in `download`, after its first chunk is on disk) and one process is killed with
 * SIGKILL there and started again on the same data directory and ports, the server at one step
 * and the agent at the next, alternating, so each of the 8 steps sees a kill and each process
 * is killed 4 times. After a server kill the living agent is let on to the next step (it
 * reconnects by itself); a killed agent starts again held at the next step, which it reaches
 * by redoing the rollout from its own disk (the partial download resumed, the stored artifact
 * found). The device serves a first model before, so `switch` and `persist` replace one.
 * Found: the rollout completes and the device serves the new model; the SQLite file passes
 * integrity_check, every stored artifact on both sides hashes to its name, no partial download
 * or temporary file is left, and the agent's state file names the new model and the old one
 * as previous. Real processes throughout: `edgefleet server` and the real device in
 * test/helpers/fault-agent.ts. (Before, each step had a rollout of its own and both processes
 * killed: 16 kills and 16 restarts, ~7 minutes on a loaded box; a server kill at a step with
 * the agent still running in it is a case that did not cover.)
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SWAP_STEP_DEFS } from '@edgefleet/agent';
import { openSqliteStore, STORE_FILE } from '@edgefleet/server';
import { createArtifactStore } from '@edgefleet/server/deploy/index';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { api, holdAt, startFaultAgent, startServerProcess, type Proc } from '../helpers/fault-rig.js';
import { sqliteIntegrity } from '../helpers/store.js';
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

t.test('kill -9 of server or agent at each swap step of one rollout: it converges, nothing is corrupted', async (t) => {
  const dataDir = t.testdir();
  const serverDir = join(dataDir, 'server');
  const agentDir = join(dataDir, 'agent');
  const controlFile = join(dataDir, 'control.json');
  const [port, apiPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${apiPort}`;
  const steps = SWAP_STEP_DEFS.map((s) => s.name);

  // The first model (deployed unheld) and the one the held rollout brings, stored before the server first starts.
  const store = openSqliteStore({ dataDir: serverDir });
  const artifacts = createArtifactStore({ dataDir: serverDir, artifacts: store.repos.artifacts, now: Date.now });
  const [first, next] = [
    (await artifacts.put(buildClassifier(SEED, HIDDEN))).sha256,
    (await artifacts.put(buildClassifier(SEED + 1, HIDDEN))).sha256,
  ];
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

  const rollout = async (seed: number, sha: string) =>
    (
      await api<{ rollout: { id: string } }>(base, 'POST', '/v1/rollouts', {
        deviceClass: 'rpi4',
        variant: sha,
        golden: goldenFor(seed, 8, { hidden: HIDDEN }),
      })
    ).rollout.id;
  /** Waits for the rollout to end with the device serving `sha`; says what both were doing when it does not. */
  const converged = async (id: string, sha: string, what: string): Promise<string> => {
    let state = '';
    await waitFor(
      async () => {
        state = (await api<{ rollout: { state: string } }>(base, 'GET', `/v1/rollouts/${id}`)).rollout.state;
        return state !== 'in-progress' && (await device()).currentModel === sha;
      },
      120_000,
      what,
    ).catch(async (err: unknown) => {
      const status = await api(base, 'GET', `/v1/rollouts/${id}`).catch((e: unknown) => String(e));
      throw new Error(`${String(err)}; rollout ${JSON.stringify(status)}; agent: ${agent.output().slice(-1500)}`);
    });
    return state;
  };

  t.equal(
    await converged(await rollout(SEED, first), first, 'the first rollout'),
    'completed',
    'the first model serves',
  );

  holdAt(controlFile, steps[0] ?? null);
  const id = await rollout(SEED + 1, next);
  const tried: string[] = [];
  let partials = 0;
  for (const [i, step] of steps.entries()) {
    const following = steps[i + 1] ?? null;
    await agent.waitFor(new RegExp(`FAULT-HELD ${step} `), 60_000);
    if (i % 2 === 0) {
      // The server dies under the held agent and comes back; the agent, let on, reconnects by itself.
      await server.kill9();
      server = await startServerProcess(serverDir, port, apiPort);
      holdAt(controlFile, following);
      tried.push(`${step}:server`);
    } else {
      // The agent dies in the step; started again, it redoes the rollout from its disk up to the next one.
      await agent.kill9();
      if (step === 'download') {
        partials = readdirSync(join(agentDir, 'downloads')).length;
        t.ok(partials > 0, 'killed in download: its partial file is on disk, to resume');
      }
      holdAt(controlFile, following);
      agent = await startFaultAgent(spec, dataDir);
      tried.push(`${step}:agent`);
    }
  }
  const state = await converged(id, next, 'the held rollout to finish');
  t.equal(state, 'completed', 'killed at every step: the rollout completed and the device serves the new model');

  await agent.kill9();
  t.equal(await server.stop(), 0, 'the last server stops cleanly');
  const check = sqliteIntegrity(join(serverDir, STORE_FILE));
  t.equal(check, 'ok', 'SQLite integrity_check: ok');
  const serverArtifacts = join(serverDir, 'artifacts');
  t.same(
    misnamed(serverArtifacts).filter((f) => !f.endsWith('.onnx.gz')),
    [],
    'every server artifact hashes to its name',
  );
  t.same(misnamed(join(agentDir, 'artifacts')), [], 'every agent artifact hashes to its name, nothing else there');
  t.same(readdirSync(join(agentDir, 'downloads')), [], 'no partial download left behind');
  const saved = JSON.parse(readFileSync(join(agentDir, 'state.json'), 'utf8')) as {
    current?: { sha256: string };
    previous?: { sha256: string };
  };
  t.equal(saved.current?.sha256, next, 'the state file names the new model');
  t.equal(saved.previous?.sha256, first, '… and the first one as previous');
  const kills = (who: string) => tried.filter((k) => k.endsWith(who)).length;
  t.comment(
    `tried: one rollout held at each of ${steps.length} swap steps with one process killed (SIGKILL) there and ` +
      `started again: ${tried.join(', ')} (${kills('server')} server and ${kills('agent')} agent kills); ` +
      `found: ${partials} partial download(s) left by the kill in download (none at the end); rollout ${state}, ` +
      `device serves ${next.slice(0, 12)}; integrity ${check}; ` +
      `agent artifacts ${readdirSync(join(agentDir, 'artifacts')).length}`,
  );
});
