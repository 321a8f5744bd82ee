/**
 * Deployment on the agent over a real broker, with real onnxruntime workers: a test chunk
 * server built from the shared protocol serves artifacts from memory.
 */
import t, { type Test } from 'tap';
import { createDevice, type Device } from '@edgefleet/agent/device';
import {
  createManifestSigner,
  generateSigningKeyPem,
  parseTrustedKey,
  type DeployReport,
  type ManifestSigner,
} from '@edgefleet/shared';
import { recordingLogger, linkOptions } from '../helpers/agent-fixtures.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startChunkServer, type ChunkServer } from '../helpers/chunk-server.js';
import { buildClassifier, goldenFor, INPUTS, seededFloats, signedDesired } from '../fixtures/deploy-models.js';

t.setTimeout(120_000);

const modelA = buildClassifier(11);
const modelB = buildClassifier(22);
const signer = createManifestSigner(generateSigningKeyPem());

interface Rig {
  broker: TestBroker;
  server: ChunkServer;
  dir: string;
}

async function rig(t: Test): Promise<Rig> {
  const broker = await startTestBroker();
  const server = await startChunkServer(broker.url);
  t.teardown(async () => {
    await server.close();
    await broker.close();
  });
  return { broker, server, dir: t.testdir() };
}

async function device(
  t: Test,
  r: Rig,
  deviceId: string,
  extra: { signerKeys?: readonly ManifestSigner[] } = {},
): Promise<Device> {
  const { logger } = recordingLogger();
  const d = await createDevice({
    link: linkOptions({ brokerUrl: r.broker.url, deviceId, logger }),
    dataDir: r.dir,
    trustedKeys: (extra.signerKeys ?? [signer]).map((s) => parseTrustedKey(s.publicKey)),
    logger,
    serve: { port: 0 },
    download: { windowChunks: 4, windowTimeoutMs: 400, maxStalls: 4 },
  });
  t.teardown(() => d.stop({ clean: false }).catch(() => undefined));
  return d;
}

async function infer(d: Device): Promise<{
  status: number;
  body: { model?: { sha256: string }; outputs?: Record<string, { dims: number[]; data: number[] }> };
}> {
  const api = d.api();
  if (!api) throw new Error('no local API');
  const res = await fetch(`${api.url}/v1/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: { x: { dims: [1, INPUTS], data: Array.from(seededFloats(INPUTS, 5)) } } }),
  });
  return { status: res.status, body: (await res.json()) as never };
}

const terminal = (id: string) => (r: DeployReport) =>
  r.deploymentId === id && ['succeeded', 'failed', 'rolled-back'].includes(r.state);

async function deployA(r: Rig, d: Device, deviceId: string): Promise<void> {
  r.server.artifacts.set(
    signedDesired(signer, { deviceId, deploymentId: 'a-1', variantId: 'vA', bytes: modelA, golden: goldenFor(11) }).body
      .artifact.sha256,
    modelA,
  );
  await r.server.publishDesired(
    signedDesired(signer, { deviceId, deploymentId: 'a-1', variantId: 'vA', bytes: modelA, golden: goldenFor(11) }),
  );
  const report = await r.server.waitReport(terminal('a-1'));
  if (report.state !== 'succeeded') throw new Error(`first deployment failed: ${JSON.stringify(report.failure)}`);
  await d.idle();
}

t.test('full download, verify, swap; the local API answers with the new model', async (t) => {
  const r = await rig(t);
  const d = await device(t, r, 'dev-full');
  await d.start();
  t.equal((await infer(d)).status, 503, 'no model yet: 503');
  await deployA(r, d, 'dev-full');
  const reports = r.server.reports.filter((x) => x.deploymentId === 'a-1').map((x) => x.state);
  t.same(
    reports,
    ['downloading', 'verifying', 'loading', 'smoke-testing', 'switched', 'succeeded'],
    'every state reported in order',
  );
  const done = r.server.reports.at(-1);
  t.equal(done?.chunks.fetched, done?.chunks.total, 'every chunk fetched once');
  t.equal(done?.accuracy, 1);
  const answer = await infer(d);
  t.equal(answer.status, 200);
  t.equal(answer.body.model?.sha256, done?.sha256, 'the local API answers with the new model');
  t.same(answer.body.outputs?.y?.dims, [1, 4]);

  // Swap to B: a fresh worker, the old one ended.
  const b = signedDesired(signer, {
    deviceId: 'dev-full',
    deploymentId: 'b-1',
    variantId: 'vB',
    bytes: modelB,
    golden: goldenFor(22),
  });
  r.server.artifacts.set(b.body.artifact.sha256, modelB);
  await r.server.publishDesired(b);
  t.equal((await r.server.waitReport(terminal('b-1'))).state, 'succeeded');
  t.equal((await infer(d)).body.model?.sha256, b.body.artifact.sha256);
  const state = await d.store.loadState();
  t.equal(state.lastKnownGood?.sha256, b.body.artifact.sha256, 'LKG persisted');
  t.equal(state.previous?.sha256, done?.sha256, 'previous LKG kept for rollback');
});

t.test('tampered artifact and bad signatures are rejected while the old model keeps answering', async (t) => {
  const r = await rig(t);
  const d = await device(t, r, 'dev-rej');
  await d.start();
  await deployA(r, d, 'dev-rej');
  const shaA = (await infer(d)).body.model?.sha256;

  const tampered = new Uint8Array(modelB);
  tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 1;
  const b = signedDesired(signer, {
    deviceId: 'dev-rej',
    deploymentId: 'b-tamper',
    variantId: 'vB',
    bytes: modelB,
    golden: goldenFor(22),
  });
  r.server.faults.tampered.set(b.body.artifact.sha256, tampered);
  await r.server.publishDesired(b);
  const rep = await r.server.waitReport(terminal('b-tamper'));
  t.match(rep, { state: 'failed', failure: { step: 'verify', reason: 'digest-mismatch' } });
  t.equal((await infer(d)).body.model?.sha256, shaA, 'old model still answers');

  const other = createManifestSigner(generateSigningKeyPem());
  const cases: Array<[string, ReturnType<typeof signedDesired>, string]> = [
    [
      'unsigned',
      {
        ...signedDesired(signer, {
          deviceId: 'dev-rej',
          deploymentId: 'b-unsigned',
          variantId: 'vB',
          bytes: modelB,
          golden: goldenFor(22),
        }),
        signature: undefined,
      },
      'unsigned',
    ],
    ['wrong signature', { ...b, body: { ...b.body, deploymentId: 'b-badsig' } }, 'bad-signature'],
    [
      'unknown key',
      signedDesired(other, {
        deviceId: 'dev-rej',
        deploymentId: 'b-foreign',
        variantId: 'vB',
        bytes: modelB,
        golden: goldenFor(22),
      }),
      'unknown-key',
    ],
  ];
  for (const [name, desired, reason] of cases) {
    const { signature, ...rest } = desired;
    await r.server.publishDesired(signature === undefined ? rest : desired);
    const report = await r.server.waitReport(terminal(desired.body.deploymentId));
    t.match(report, { state: 'failed', failure: { step: 'authenticate', reason } }, name);
  }
  t.equal((await infer(d)).body.model?.sha256, shaA, 'old model still answers after every rejection');
  t.equal(
    r.server.requests.filter((q) => q.deploymentId !== 'a-1' && q.deploymentId !== 'b-tamper').length,
    0,
    'nothing downloaded for unauthenticated manifests',
  );
});

t.test(
  'killed mid-transfer, restarted: resumes without refetching verified chunks; a corrupt chunk is refetched',
  async (t) => {
    const r = await rig(t);
    const big = buildClassifier(33, 1024);
    const desired = signedDesired(signer, {
      deviceId: 'dev-resume',
      deploymentId: 'r-1',
      variantId: 'vR',
      bytes: big,
      golden: { ...goldenFor(33), labels: goldenFor(33).labels, minAccuracy: 0 },
    });
    const total = desired.body.artifact.chunkCount;
    t.ok(total >= 20, `${total} chunks`);
    r.server.artifacts.set(desired.body.artifact.sha256, big);
    r.server.faults.stopAfter = 10;
    r.server.faults.corruptOnce.add(2);
    const first = await device(t, r, 'dev-resume');
    await first.start();
    await r.server.publishDesired(desired);
    while (r.server.totalSent() < 10) await new Promise((res) => setTimeout(res, 20));
    await new Promise((res) => setTimeout(res, 200));
    // A crash: no clean disconnect, and the download stops where it was.
    await first.stop({ clean: false });
    const kept = JSON.parse(
      await import('node:fs/promises').then((fs) =>
        fs.readFile(first.store.bitmapPath(desired.body.artifact.sha256), 'utf8'),
      ),
    ) as { done: number[] };
    t.ok(
      kept.done.length >= 5 && kept.done.length < total,
      `${kept.done.length} chunks verified on disk before the kill`,
    );
    t.notOk(kept.done.includes(2) && r.server.sent.get(2) === 1, 'the corrupt copy of chunk 2 was not accepted');

    const sentBefore = new Map(r.server.sent);
    r.server.faults.stopAfter = null;
    const second = await device(t, r, 'dev-resume');
    await second.start();
    const report = await r.server.waitReport((x) => x.deploymentId === 'r-1' && x.state === 'succeeded');
    t.equal(report.chunks.reused, kept.done.length, 'every chunk verified before the kill is reused');
    t.equal(report.chunks.fetched, total - kept.done.length, 'only missing chunks are fetched');
    for (const index of kept.done)
      t.equal(r.server.sent.get(index), sentBefore.get(index), `chunk ${index} not sent again`);
    t.ok((r.server.sent.get(2) ?? 0) >= 2, 'corrupt chunk 2 was fetched again');
  },
);

t.test(
  'a wrong golden set fails the smoke test and the LKG keeps serving; reboot serves LKG before connecting',
  async (t) => {
    const r = await rig(t);
    const d = await device(t, r, 'dev-golden');
    await d.start();
    await deployA(r, d, 'dev-golden');
    const shaA = (await infer(d)).body.model?.sha256;
    const bad = signedDesired(signer, {
      deviceId: 'dev-golden',
      deploymentId: 'b-wrong',
      variantId: 'vB',
      bytes: modelB,
      golden: goldenFor(22, 8, { wrong: true }),
    });
    r.server.artifacts.set(bad.body.artifact.sha256, modelB);
    await r.server.publishDesired(bad);
    const rep = await r.server.waitReport(terminal('b-wrong'));
    t.match(rep, {
      state: 'failed',
      failure: { step: 'smoke-test', reason: 'accuracy-below-minimum' },
      accuracy: 0,
      serving: shaA,
    });
    t.equal((await infer(d)).body.model?.sha256, shaA);
    await d.stop({ clean: true });

    // Reboot with the broker gone: the LKG serves from disk.
    await r.server.close();
    await r.broker.close();
    const rebooted = await device(t, r, 'dev-golden');
    await rebooted.start();
    t.equal(rebooted.link.stats().state === 'online', false, 'not connected');
    const answer = await infer(rebooted);
    t.equal(answer.status, 200);
    t.equal(answer.body.model?.sha256, shaA, 'last-known-good model serves after reboot, offline');
  },
);
