/**
 * TLS from a configured certificate and key, generated at test time with openssl: the
 * embedded broker speaks mqtts and the admin API https; a plain client gets nowhere.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect, makeAuthServer } from '../helpers/auth.js';

const hasOpenssl = spawnSync('openssl', ['version']).error === undefined;

function makeCert(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const out = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  );
  if (out.status !== 0) throw new Error(`openssl failed: ${out.stderr}`);
  return { certFile, keyFile };
}

t.test(
  'mqtts and https from a configured certificate',
  { skip: hasOpenssl ? false : 'openssl not installed: cannot make a test certificate' },
  async (t) => {
    const dir = t.testdir();
    const { certFile, keyFile } = makeCert(dir);
    const server = makeAuthServer(join(dir, 'data'), { 'tls.certFile': certFile, 'tls.keyFile': keyFile });
    t.teardown(() => server.stop());
    const address = await server.start();
    t.match(address.brokerUrl, /^mqtts:\/\//, 'the broker URL says mqtts');
    t.match(address.apiUrl, /^https:\/\//, 'the API URL says https');
    const ca = readFileSync(certFile);
    const device = await server.auth().provisionDevice('tls-dev', null);
    const client = await connect(address.brokerUrl, {
      clientId: 'tls-dev',
      username: 'tls-dev',
      password: device.secret,
      ca,
      servername: 'localhost',
    });
    t.ok(client.connected, 'a device connects over TLS with the CA');
    await client.endAsync(true);
    await t.rejects(
      connect(address.brokerUrl.replace('mqtts', 'mqtt'), {
        clientId: 'tls-dev',
        username: 'tls-dev',
        password: device.secret,
        connectTimeout: 1500,
      }),
      'plain MQTT to the TLS port fails',
    );
    await t.rejects(
      connect(address.brokerUrl, {
        clientId: 'tls-dev',
        username: 'tls-dev',
        password: device.secret,
        connectTimeout: 1500,
      }),
      'without the CA the certificate is not trusted',
    );
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(new URL('/health', address.apiUrl!), { ca, servername: 'localhost' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    t.match(JSON.parse(body), { status: 'ok' }, 'https /health answers');
  },
);

t.test('unusable TLS files are a clear configuration error', async (t) => {
  const dir = t.testdir({ 'cert.pem': 'not a certificate', 'key.pem': 'not a key' });
  const missing = makeAuthServer(join(dir, 'a'), {
    'tls.certFile': join(dir, 'nope.pem'),
    'tls.keyFile': join(dir, 'key.pem'),
  });
  await t.rejects(missing.start(), { code: 'EF_ERR_TLS_CONFIG', message: /nope\.pem/ });
  await missing.stop();
  const garbage = makeAuthServer(join(dir, 'b'), {
    'tls.certFile': join(dir, 'cert.pem'),
    'tls.keyFile': join(dir, 'key.pem'),
  });
  await t.rejects(garbage.start(), { code: 'EF_ERR_TLS_CONFIG' });
  await garbage.stop();
  t.throws(
    () => makeAuthServer(join(dir, 'c'), { 'tls.certFile': join(dir, 'cert.pem') }),
    { code: 'EF_ERR_CONFIG_INVALID' },
    'a certificate without a key is refused',
  );
});
