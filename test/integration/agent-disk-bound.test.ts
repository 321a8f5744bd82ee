/**
 * The agent's disk use is bounded (issue 18, finding 8), over a real broker, with real files
 * and onnxruntime workers: failed downloads used to leave `downloads/<sha>.part` forever and
 * every model ever deployed stayed in `artifacts/`. Now partial downloads of failed
 * deployments are kept for a retry only within `storage.maxPartialBytes` (and a day), and
 * models the device no longer points at (current, last-known-good, previous) are deleted.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createDevice, type Device } from '@edgefleet/agent/device';
import {
  createManifestSigner,
  generateSigningKeyPem,
  parseTrustedKey,
  type DeployReport,
  type Desired,
} from '@edgefleet/shared';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { startTestBroker } from '../helpers/broker.js';
import { startChunkServer, type ChunkServer } from '../helpers/chunk-server.js';
import { buildClassifier, goldenFor, signedDesired } from '../fixtures/deploy-models.js';

t.setTimeout(120_000);
const signer = createManifestSigner(generateSigningKeyPem());

/** Bytes and names of every file in one folder of the device's data directory. */
function listing(dir: string, sub: string): { names: string[]; bytes: number } {
  const names = readdirSync(join(dir, sub)).sort();
  return { names, bytes: names.reduce((sum, n) => sum + statSync(join(dir, sub, n)).size, 0) };
}

async function rig(t: Test, maxPartialBytes: number) {
  const broker = await startTestBroker();
  const server: ChunkServer = await startChunkServer(broker.url);
  t.teardown(async () => {
    await server.close();
    await broker.close();
  });
  const dir = t.testdir();
  const { logger } = recordingLogger();
  const device: Device = await createDevice({
    link: linkOptions({ brokerUrl: broker.url, deviceId: 'dev-disk', logger }),
    dataDir: dir,
    trustedKeys: [parseTrustedKey(signer.publicKey)],
    logger,
    download: { windowChunks: 4, windowTimeoutMs: 200, maxStalls: 2 },
    storage: { maxPartialBytes },
  });
  t.teardown(() => device.stop({ clean: false }).catch(() => undefined));
  await device.start();
  let n = 0;
  /** Publishes a deployment of a fresh model and waits for its terminal report. */
  async function deploy(seed: number, fail: boolean): Promise<{ desired: Desired; report: DeployReport }> {
    n += 1;
    const id = `dep-${n}`;
    const bytes = buildClassifier(seed);
    const desired = signedDesired(signer, {
      deviceId: 'dev-disk',
      deploymentId: id,
      variantId: `v${seed}`,
      bytes,
      golden: goldenFor(seed),
    });
    server.artifacts.set(desired.body.artifact.sha256, bytes);
    // A failing deployment gets 3 chunks, then silence: the download times out with a partial file.
    server.faults.stopAfter = fail ? server.totalSent() + 3 : null;
    await server.publishDesired(desired);
    const report = await server.waitReport(
      (r) => r.deploymentId === id && ['succeeded', 'failed', 'rolled-back'].includes(r.state),
    );
    await device.idle();
    return { desired, report };
  }
  return { dir, device, deploy };
}

t.test('with no room for partial downloads, failed downloads leave nothing behind', async (t) => {
  const { dir, deploy } = await rig(t, 0);
  const failures: string[] = [];
  for (const seed of [1, 2, 3]) {
    const { report } = await deploy(seed, true);
    failures.push(`${report.state}/${report.failure?.reason}`);
    t.same(listing(dir, 'downloads').names, [], `after failed download ${seed}: downloads/ is empty`);
  }
  t.same(failures, ['failed/download-timeout', 'failed/download-timeout', 'failed/download-timeout']);
  t.comment(`tried: 3 downloads cut off after 3 chunks; found: ${failures.join(', ')}, downloads/ empty each time`);
});

t.test('partials are kept for a retry within the bound; models no longer pointed at are deleted', async (t) => {
  const { dir, device, deploy } = await rig(t, 64 * 1024 * 1024);
  const a = await deploy(11, false);
  t.equal(a.report.state, 'succeeded');
  const failed = await deploy(12, true);
  t.equal(failed.report.failure?.reason, 'download-timeout');
  const kept = listing(dir, 'downloads');
  t.ok(
    kept.names.includes(`${failed.desired.body.artifact.sha256}.part`),
    'the failed download keeps its partial file for a retry (within 64 MiB)',
  );
  const b = await deploy(13, false);
  const c = await deploy(14, false);
  t.same([b.report.state, c.report.state], ['succeeded', 'succeeded']);
  const state = await device.store.loadState();
  const expected = [c.desired, b.desired].map((d) => `${d.body.artifact.sha256}.onnx`).sort();
  t.equal(state.previous?.sha256, b.desired.body.artifact.sha256, 'b is the previous model (a rollback target)');
  t.same(listing(dir, 'artifacts').names, expected, 'artifacts/ holds only the current and previous models; a is gone');
  t.comment(
    `tried: 3 successful deployments and 1 failed one; found: artifacts/ ${listing(dir, 'artifacts').names.length} ` +
      `files, downloads/ ${listing(dir, 'downloads').bytes} bytes`,
  );
});
