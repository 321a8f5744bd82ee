/** The optional HTTP(S) artifact path: same digest and size checks as MQTT chunks, against a real local HTTP server. */
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { downloadHttp, openArtifactStore } from '@edgefleet/agent';
import { describeArtifact, sha256Hex } from '@edgefleet/shared';
import { buildClassifier } from '../fixtures/deploy-models.js';
import { gzipSync } from 'node:zlib';

const model = buildClassifier(11);
const layout = describeArtifact(model, 2048);
const artifact = { ...layout, chunks: [...layout.chunks] };

async function serveBytes(t: Test, routes: Record<string, Uint8Array>): Promise<string> {
  const server = createServer((req, res) => {
    const body = routes[req.url ?? ''];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('HTTP download: verified bytes land in the store; tampered, short, long and missing ones do not', async (t) => {
  const tampered = new Uint8Array(model);
  tampered[100] = (tampered[100] ?? 0) ^ 1;
  const base = await serveBytes(t, {
    '/ok': model,
    '/tampered': tampered,
    '/short': model.subarray(0, 1000),
    '/long': Buffer.concat([model, Buffer.alloc(10)]),
  });
  const store = await openArtifactStore(t.testdir());
  const cases: Array<[string, string]> = [
    ['/tampered', 'digest-mismatch'],
    ['/short', 'size-mismatch'],
    ['/long', 'size-mismatch'],
    ['/missing', 'download-refused'],
  ];
  for (const [path, reason] of cases) {
    t.match(
      await downloadHttp(`${base}${path}`, artifact, store).catch((err: unknown) => err),
      { details: { reason } },
      path,
    );
    t.equal(await store.has(artifact.sha256), false, `${path}: nothing stored`);
  }
  t.same(await downloadHttp(`${base}/ok`, artifact, store), { bytes: model.byteLength });
  t.equal(sha256Hex(await store.read(artifact.sha256)), artifact.sha256);
  t.same(await downloadHttp(`${base}/ok`, artifact, store), { bytes: 0 }, 'already in the store: nothing downloaded');
});

t.test('HTTP download of a gzip-encoded artifact: decoded and verified against the model digest', async (t) => {
  const sparse = Buffer.concat([model, Buffer.alloc(20_000)]);
  const encoded = gzipSync(sparse, { level: 9 });
  const gz = describeArtifact(sparse, 2048, { encoding: 'gzip', bytes: encoded });
  const gzArtifact = { ...gz, chunks: [...gz.chunks] };
  const base = await serveBytes(t, {
    '/gz': encoded,
    '/plain': sparse,
    '/long': Buffer.concat([encoded, Buffer.alloc(4)]),
  });
  const store = await openArtifactStore(t.testdir());
  t.match(
    await downloadHttp(`${base}/plain`, gzArtifact, store).catch((err: unknown) => err),
    { details: { reason: 'size-mismatch' } },
    'the decoded bytes where the encoded ones belong: refused (more than encodedSize)',
  );
  t.match(
    await downloadHttp(`${base}/long`, gzArtifact, store).catch((err: unknown) => err),
    { details: { reason: 'size-mismatch' } },
    'trailing bytes after the gzip stream: refused',
  );
  t.equal(await store.has(gz.sha256), false, 'nothing stored');
  t.same(await downloadHttp(`${base}/gz`, gzArtifact, store), { bytes: encoded.byteLength });
  t.same(Buffer.from(await store.read(gz.sha256)), sparse, 'the store holds the decoded model');
});
