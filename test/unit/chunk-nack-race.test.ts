/**
 * A server refusal (`chunk-nack`) that reaches the agent before the window that asked for it
 * has started waiting: with the embedded broker, the nack and the PUBACK of the request often
 * arrive in one read, so the nack is handled before `request()` resolves. It still belongs to
 * that window (matched by request id) and the attempt ends as `download-refused`, naming what
 * the server said; a late nack of an earlier window does not end a later one. The transport
 * is a stand-in that delivers in exactly those orders; store and files are real.
 */
import t from 'tap';
import { downloadChunks, openArtifactStore, systemClock, type ChunkTransport } from '@edgefleet/agent';
import {
  createManifestSigner,
  generateSigningKeyPem,
  PROTOCOL_VERSION,
  type Chunk,
  type ChunkNack,
  type ChunkRequest,
} from '@edgefleet/shared';
import { buildClassifier, goldenFor, signedDesired } from '../fixtures/deploy-models.js';

// systemClock's timers do not hold the process open; a download waiting on them here must not end the test early.
const keepAlive = setInterval(() => undefined, 1000);
t.teardown(() => clearInterval(keepAlive));

const signer = createManifestSigner(generateSigningKeyPem());
const desired = signedDesired(signer, {
  deviceId: 'race-dev',
  deploymentId: 'race-dep',
  variantId: 'v',
  bytes: buildClassifier(66, 1024),
  golden: goldenFor(66),
});

function nackFor(request: ChunkRequest, detail: string): ChunkNack {
  return {
    type: 'chunk-nack',
    v: PROTOCOL_VERSION,
    deviceId: request.deviceId,
    deploymentId: request.deploymentId,
    requestId: request.requestId,
    reason: 'unknown-artifact',
    detail,
    sentAt: Date.now(),
  };
}

/** A transport that answers every request with a nack, delivered as `deliver` says. */
function refusingTransport(deliver: (send: () => void) => Promise<void>): ChunkTransport & { requests: number } {
  const handlers = new Set<(m: Chunk | ChunkNack) => void>();
  const transport = {
    requests: 0,
    request: async (request: ChunkRequest) => {
      transport.requests += 1;
      const nack = nackFor(request, 'artifact file is damaged: it hashes to 0badc0de');
      await deliver(() => {
        for (const h of handlers) h(nack);
      });
    },
    listen: (h: (m: Chunk | ChunkNack) => void) => {
      handlers.add(h);
      return () => void handlers.delete(h);
    },
  };
  return transport;
}

const options = (transport: ChunkTransport, store: Awaited<ReturnType<typeof openArtifactStore>>) => ({
  deviceId: 'race-dev',
  store,
  transport,
  clock: systemClock,
  random: () => 0.5,
  windowChunks: 4,
  // A window that missed its nack waits this long, then the attempt ends as a timeout.
  windowTimeoutMs: 1000,
  maxStalls: 3,
  backoff: { initialMs: 1, factor: 1, maxMs: 1, jitter: 0 },
});

t.test('a nack handled before request() resolves ends its window as a refusal', async (t) => {
  // The nack is delivered synchronously inside request(), before its promise resolves.
  const transport = refusingTransport(async (send) => send());
  const store = await openArtifactStore(t.testdir());
  await t.rejects(downloadChunks(desired.body, options(transport, store)), {
    details: { reason: 'download-refused' },
    message: /refused the download \(unknown-artifact: artifact file is damaged/,
  });
  t.equal(transport.requests, 3, 'one request per window, maxStalls windows');
});

t.test('a nack for an earlier request does not end the current window', async (t) => {
  const handlers = new Set<(m: Chunk | ChunkNack) => void>();
  let last: ChunkRequest | null = null;
  const transport: ChunkTransport = {
    request: async (request) => {
      // Before asking again, the previous request's refusal arrives late; this one is never answered.
      if (last) for (const h of handlers) h(nackFor(last, 'late'));
      last = request;
    },
    listen: (h) => {
      handlers.add(h);
      return () => void handlers.delete(h);
    },
  };
  const store = await openArtifactStore(t.testdir());
  const attempt = downloadChunks(desired.body, { ...options(transport, store), windowTimeoutMs: 200, maxStalls: 2 });
  await t.rejects(
    attempt,
    { message: /download-timeout/, details: { reason: 'download-timeout' } },
    'the unanswered last window times out',
  );
});
