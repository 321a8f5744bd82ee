import t from 'tap';
import {
  canonicalJson,
  createManifestSigner,
  describeArtifact,
  desiredSchema,
  encodeWindowBitmap,
  generateSigningKeyPem,
  MAX_CHUNK_MESSAGE_BYTES,
  maxPayloadBytesFor,
  parseTrustedKey,
  requestedIndices,
  sha256Hex,
  verifySignature,
  type ManifestBody,
} from '@edgefleet/shared';

function body(keyId: string): ManifestBody {
  const artifact = describeArtifact(new Uint8Array(5000).fill(7), 2048);
  return {
    deviceId: 'dev-1',
    deviceClass: 'pi4',
    deploymentId: 'dep-1',
    rolloutId: 'ro-1',
    purpose: 'rollout',
    variantId: 'v-int8',
    format: 'onnx',
    artifact: { ...artifact, chunks: [...artifact.chunks] },
    golden: {
      inputs: { x: { dims: [1, 2], data: Buffer.from(new Float32Array([1, 2]).buffer).toString('base64') } },
      labels: [1],
      minAccuracy: 1,
    },
    budgets: { latencyP95Ms: 20, custom: 'kept' },
    previous: null,
    issuedAt: 1_700_000_000_000,
    keyId,
  };
}

t.test('canonicalJson sorts keys at every depth, drops undefined, refuses non-finite numbers', async (t) => {
  t.equal(
    canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined }),
    '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
  );
  t.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  t.throws(() => canonicalJson({ a: Number.NaN }), TypeError);
  t.throws(() => canonicalJson({ a: 1n }), TypeError);
});

t.test('a signed manifest round-trips through JSON and the schema and verifies', async (t) => {
  const signer = createManifestSigner(generateSigningKeyPem());
  t.match(signer.keyId, /^[0-9a-f]{16}$/);
  const trusted = [parseTrustedKey(signer.publicKey)];
  t.equal(trusted[0]?.keyId, signer.keyId, 'the key id is derived from the public key alone');
  const b = body(signer.keyId);
  const wire = JSON.stringify(
    { type: 'desired', v: 1, deviceId: 'dev-1', body: b, signature: signer.sign(b) },
    null,
    2,
  );
  const parsed = desiredSchema.parse(JSON.parse(wire));
  t.same(verifySignature(parsed.body, parsed.body.keyId, parsed.signature, trusted), { ok: true, keyId: signer.keyId });
});

t.test('tampering, unknown keys and missing signatures are rejected with their reason', async (t) => {
  const signer = createManifestSigner(generateSigningKeyPem());
  const other = createManifestSigner(generateSigningKeyPem());
  const trusted = [parseTrustedKey(signer.publicKey)];
  const b = body(signer.keyId);
  const sig = signer.sign(b);
  const tampered = { ...b, artifact: { ...b.artifact, sha256: sha256Hex(Buffer.from('evil')) } };
  t.match(verifySignature(tampered, b.keyId, sig, trusted), { ok: false, reason: 'bad-signature' });
  t.match(
    verifySignature({ ...b, minAccuracy: 0 }, b.keyId, sig, trusted),
    { ok: false, reason: 'bad-signature' },
    'an added key breaks the signature',
  );
  t.match(verifySignature(b, b.keyId, undefined, trusted), { ok: false, reason: 'unsigned' });
  t.match(verifySignature(b, b.keyId, '', trusted), { ok: false, reason: 'unsigned' });
  const foreign = body(other.keyId);
  t.match(verifySignature(foreign, other.keyId, other.sign(foreign), trusted), { ok: false, reason: 'unknown-key' });
  // A forged key id pointing at a trusted key does not help a foreign signature.
  t.match(verifySignature(b, signer.keyId, other.sign(b), trusted), { ok: false, reason: 'bad-signature' });
  t.match(verifySignature(b, b.keyId, 'AAAA', trusted), { ok: false, reason: 'bad-signature' }, 'a short signature');
});

t.test('rotation: an agent trusting two keys accepts manifests signed by either', async (t) => {
  const oldKey = createManifestSigner(generateSigningKeyPem());
  const newKey = createManifestSigner(generateSigningKeyPem());
  const both = [parseTrustedKey(oldKey.publicKey), parseTrustedKey(newKey.publicKey)];
  for (const signer of [oldKey, newKey]) {
    const b = body(signer.keyId);
    t.equal(verifySignature(b, b.keyId, signer.sign(b), both).ok, true, `signed by ${signer.keyId}`);
  }
  const onlyNew = [parseTrustedKey(newKey.publicKey)];
  const b = body(oldKey.keyId);
  t.match(
    verifySignature(b, b.keyId, oldKey.sign(b), onlyNew),
    { ok: false, reason: 'unknown-key' },
    'after the old key is dropped',
  );
});

t.test('trusted keys parse from raw base64 and PEM and refuse anything else', async (t) => {
  const signer = createManifestSigner(generateSigningKeyPem());
  const { createPublicKey } = await import('node:crypto');
  const pem = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(signer.publicKey, 'base64').toString('base64url') },
    format: 'jwk',
  })
    .export({ format: 'pem', type: 'spki' })
    .toString();
  t.equal(parseTrustedKey(pem).keyId, signer.keyId);
  t.throws(() => parseTrustedKey('not a key'), TypeError);
  t.throws(() => parseTrustedKey(Buffer.alloc(16).toString('base64')), TypeError);
  t.throws(() => createManifestSigner('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'));
});

t.test('chunk math: layout, bitmaps and the chunk-only payload limit', async (t) => {
  const bytes = new Uint8Array(5000).map((_, i) => i % 251);
  const layout = describeArtifact(bytes, 2048);
  t.equal(layout.chunkCount, 3);
  t.equal(layout.chunks[2], sha256Hex(bytes.subarray(4096)));
  t.throws(() => describeArtifact(bytes, 100), RangeError);
  const bitmap = encodeWindowBitmap(8, [8, 10, 17], 10);
  t.same(requestedIndices({ offset: 8, count: 10, bitmap }), [8, 10, 17]);
  t.same(requestedIndices({ offset: 3, count: 2 }), [3, 4]);
  t.equal(maxPayloadBytesFor('chunks', 1024), MAX_CHUNK_MESSAGE_BYTES);
  t.equal(maxPayloadBytesFor('desired', 1024), 1024);
});
