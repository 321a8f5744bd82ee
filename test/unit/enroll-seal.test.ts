/** The enrollment secret's seal [EF-PROTO 7.2]: only the asking agent's key, in the same context, opens it. */
import t from 'tap';
import {
  exportEnrollPrivateKey,
  generateEnrollKeyPair,
  importEnrollKeyPair,
  openSecret,
  sealSecret,
} from '@edgefleet/shared';

const secret = 'A'.repeat(20) + 'b'.repeat(23);
const context = 'enroll-0123456789ab/0011223344556677/cam-1';

t.test('the agent that asked opens it; its exported key, after a restart, too', async (t) => {
  const keys = generateEnrollKeyPair();
  const sealed = sealSecret(keys.publicKey, secret, context);
  t.notOk(sealed.includes(secret), 'the secret is not in the sealed text');
  t.equal(openSecret(keys, sealed, context), secret);
  const restored = importEnrollKeyPair(exportEnrollPrivateKey(keys.privateKey), keys.publicKey);
  t.equal(openSecret(restored, sealed, context), secret, 'a pending enrollment resumed from disk opens the reply');
  t.not(sealSecret(keys.publicKey, secret, context), sealed, 'every seal uses a fresh ephemeral key');
});

t.test('another agent, another context or a changed byte cannot open it', async (t) => {
  const keys = generateEnrollKeyPair();
  const sealed = sealSecret(keys.publicKey, secret, context);
  t.throws(() => openSecret(generateEnrollKeyPair(), sealed, context), TypeError, "another agent's key");
  t.throws(() => openSecret(keys, sealed, `${context}-x`), TypeError, 'a reply for another device id or session');
  const bytes = Buffer.from(sealed, 'base64url');
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  t.throws(() => openSecret(keys, bytes.toString('base64url'), context), TypeError, 'a changed byte');
  t.throws(() => openSecret(keys, 'AAAA', context), TypeError, 'too short');
  t.throws(() => sealSecret('not-a-key', secret, context), TypeError, 'a malformed public key');
});
