/**
 * A full disk under the server's and under the agent's data directory (issue 18 fault suite):
 * a small tmpfs mounted for the test (it needs root; skipped with the reason otherwise) and
 * filled up. Server, found:
 * telemetry batches fail whole and are not acknowledged (SQLite's "disk full" is the store
 * failing, never one message refused), an artifact write fails with a clear error and
 * leaves no partial file, the SQLite file passes `integrity_check`, and after space is
 * freed the same windows (resent, as agents do) and the artifact are stored: convergence.
 * Agent, found: closing a window fails with ENOSPC (the agent's timer logs it and goes on), a
 * deployment fails at its download step while the old model keeps serving, the outbox holds no
 * torn line, and after space is freed the same model deploys.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createArtifactStore } from '@edgefleet/server/deploy/artifact-store';
import { openSqliteStore } from '@edgefleet/server';
import { createTelemetryIngest } from '@edgefleet/server/telemetry/index';
import { createDevice } from '@edgefleet/agent/device';
import {
  createManifestSigner,
  generateSigningKeyPem,
  parseTrustedKey,
  sha256Hex,
  type DeployReport,
} from '@edgefleet/shared';
import { buildClassifier, goldenFor, signedDesired } from '../fixtures/deploy-models.js';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { startTestBroker } from '../helpers/broker.js';
import { startChunkServer } from '../helpers/chunk-server.js';
import { createFakeClock } from '../helpers/fake-clock.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';
import { sqliteIntegrity } from '../helpers/store.js';

/** Mounts a tmpfs of `size` at `dir`; returns why not when this process may not. */
function mountSmallDisk(dir: string, size: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err: unknown) {
    return `mount failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Writes zeros into `path` until the disk is full; returns the bytes written. */
function fill(path: string): number {
  const piece = Buffer.alloc(16 * 1024);
  let written = 0;
  for (;;) {
    try {
      writeFileSync(path, piece, { flag: 'a' });
      written += piece.length;
    } catch {
      return written;
    }
  }
}

t.test('a full server data directory: clear failures, nothing corrupted, convergence after', async (t) => {
  // Outside tap's fixture folder: that is removed before teardowns could unmount it.
  const mnt = mkdtempSync(join(tmpdir(), 'edgefleet-full-disk-'));
  const why = mountSmallDisk(mnt, '4m');
  if (why) {
    rmSync(mnt, { recursive: true, force: true });
    t.plan(0, `full-disk fault not run: ${why}`);
    return;
  }
  const store = openSqliteStore({ dataDir: join(mnt, 'server') });
  let closed = false;
  t.teardown(async () => {
    if (!closed) await store.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  const { logger } = recordingLogger('warn');
  const acked = new Set<number>();
  const ingest = createTelemetryIngest({
    telemetry: store.repos.telemetry,
    // A held clock: flush() alone cuts batches.
    clock: createFakeClock(),
    logger,
    batchSize: 10_000,
    onCommitted: (acks) => {
      for (const a of acks) for (const s of a.windows) acked.add(s);
    },
  });
  const artifacts = createArtifactStore({
    dataDir: join(mnt, 'server'),
    artifacts: store.repos.artifacts,
    now: () => 1,
  });
  const window = (seq: number) => telemetryWindow('dev-disk', seq, { inferences: seq });
  for (let seq = 0; seq < 10; seq += 1) ingest.accept(window(seq));
  t.equal((await ingest.flush()).windows, 10, 'with room: 10 windows stored');

  const filler = join(mnt, 'filler');
  const filled = fill(filler);
  const late = Array.from({ length: 400 }, (_, i) => 10 + i);
  for (const seq of late) ingest.accept(window(seq));
  const outcome = await ingest.flush();
  t.equal(outcome.windows, 0, 'disk full: the batch stores nothing');
  t.equal(ingest.stats().failedBatches, 1, 'it fails whole (SQLITE_FULL is not one message refused)');
  t.equal(ingest.stats().refused, 0, 'no message was refused for it');
  t.notOk(
    late.some((s) => acked.has(s)),
    'nothing of it is acknowledged, so agents send it again',
  );
  const model = Buffer.alloc(512 * 1024, 7);
  const err = await artifacts.put(model).then(
    () => null,
    (e: unknown) => e as NodeJS.ErrnoException,
  );
  t.equal(err?.code, 'ENOSPC', 'an artifact write fails with ENOSPC');
  t.same(readdirSync(artifacts.dir), [], 'and leaves no partial or temporary file');

  rmSync(filler);
  for (const seq of late) ingest.accept(window(seq)); // the agents' resend
  t.equal((await ingest.flush()).windows, late.length, 'space freed: the resent windows are stored');
  t.ok(
    late.every((s) => acked.has(s)),
    'and acknowledged',
  );
  const layout = await artifacts.put(model);
  t.equal((await artifacts.bytes(layout.sha256)).byteLength, model.length, 'the artifact is stored and verifies');
  t.equal((await store.repos.telemetry.device('dev-disk'))?.windows, 10 + late.length, 'every window once, none twice');
  const path = store.location;
  await store.close();
  closed = true;
  const check = sqliteIntegrity(path);
  t.equal(check, 'ok', 'SQLite integrity_check: ok');
  t.comment(
    `tried: filled a 4 MiB tmpfs (${(filled / 1024).toFixed(0)} KiB of filler), then a 400-window batch and a 512 ` +
      `KiB artifact; ` +
      `found: batch failed whole (${ingest.stats().failedBatches}), ENOSPC for the artifact, no partial file, ` +
      `after freeing ${late.length} windows and the artifact stored, integrity ${check}`,
  );
});

t.test('a full agent data directory: the device keeps serving, clear failures, convergence after', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'edgefleet-agent-disk-'));
  const why = mountSmallDisk(mnt, '2m');
  if (why) {
    rmSync(mnt, { recursive: true, force: true });
    t.plan(0, `agent full-disk fault not run: ${why}`);
    return;
  }
  const broker = await startTestBroker();
  const server = await startChunkServer(broker.url);
  const signer = createManifestSigner(generateSigningKeyPem());
  const { logger } = recordingLogger('warn');
  const dir = join(mnt, 'agent');
  const device = await createDevice({
    link: linkOptions({ brokerUrl: broker.url, deviceId: 'dev-full', logger }),
    dataDir: dir,
    trustedKeys: [parseTrustedKey(signer.publicKey)],
    logger,
    download: { windowChunks: 4, windowTimeoutMs: 500, maxStalls: 2 },
    // No edgefleet server acknowledges here: every window stays in the outbox, which the test reads.
    telemetry: { windowMs: 0 },
  });
  t.teardown(async () => {
    await device.stop({ clean: false }).catch(() => undefined);
    await server.close();
    await broker.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  await device.start();
  let n = 0;
  async function deploy(seed: number): Promise<DeployReport> {
    n += 1;
    const bytes = buildClassifier(seed, 1024);
    const desired = signedDesired(signer, {
      deviceId: 'dev-full',
      deploymentId: `dep-${n}`,
      variantId: `v${seed}`,
      bytes,
      golden: goldenFor(seed, 8, { hidden: 1024 }),
    });
    server.artifacts.set(desired.body.artifact.sha256, bytes);
    await server.publishDesired(desired);
    const report = await server.waitReport(
      (r) => r.deploymentId === `dep-${n}` && ['succeeded', 'failed', 'rolled-back'].includes(r.state),
    );
    await device.idle();
    return report;
  }
  const a = await deploy(31);
  t.equal(a.state, 'succeeded', 'with room: model A deployed');
  const telemetry = device.telemetry as NonNullable<typeof device.telemetry>;
  for (let i = 0; i < 3; i += 1) telemetry.closeWindow();

  const filled = fill(join(mnt, 'filler'));
  const windowErrors: string[] = [];
  for (let i = 0; i < 5; i += 1) {
    try {
      telemetry.closeWindow();
    } catch (err: unknown) {
      windowErrors.push((err as NodeJS.ErrnoException).code ?? String(err));
    }
  }
  t.ok(windowErrors.length > 0 && windowErrors.every((c) => c === 'ENOSPC'), 'closing a window fails with ENOSPC');
  const b = await deploy(32);
  t.equal(b.state, 'failed', 'disk full: model B fails to deploy …');
  t.match(b.failure, { step: 'download' }, '… at the download step, which says so');
  t.equal(device.status().serving?.sha256, a.sha256, 'and model A keeps serving');

  rmSync(join(mnt, 'filler'));
  for (let i = 0; i < 3; i += 1) telemetry.closeWindow();
  const c = await deploy(32);
  t.equal(c.state, 'succeeded', 'space freed: the same model deploys (convergence)');
  const lines = readdirSync(join(dir, 'telemetry', 'outbox'))
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, 'telemetry', 'outbox', f), 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
    );
  const torn = lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  t.same(torn, [], 'no torn line in the outbox');
  t.doesNotThrow(() => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')), 'state.json parses');
  const strays = readdirSync(join(dir, 'artifacts')).filter(
    (f) => sha256Hex(readFileSync(join(dir, 'artifacts', f))) !== f.replace(/\.onnx$/, ''),
  );
  t.same(strays, [], 'every stored model hashes to its name');
  t.comment(
    `tried: filled a 2 MiB tmpfs under the agent (${(filled / 1024).toFixed(0)} KiB of filler), then 5 windows and a ` +
      `deployment; found: ${windowErrors.length} windows refused (${[...new Set(windowErrors)].join(',')}), ` +
      `deployment ${b.state} at ${b.failure?.step}/${b.failure?.reason}, A kept serving; after freeing: ` +
      `deployment ${c.state}, ${lines.length} outbox lines, ${torn.length} torn`,
  );
});
