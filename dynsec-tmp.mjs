import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
const pw = readFileSync('/tmp/walk5/r1/mqtt-server.secret','utf8').trim();
const c = await mqtt.connectAsync('mqtt://127.0.0.1:18835', { protocolVersion: 5, clientId: 'probe-'+Date.now(), username: 'edgefleet-server', password: pw });
await c.subscribeAsync('$CONTROL/dynamic-security/v1/response');
const got = new Promise(r => c.on('message', (t, p) => r(p.toString())));
await c.publishAsync('$CONTROL/dynamic-security/v1', JSON.stringify({ commands: JSON.parse(process.argv[2]) }));
console.log(await got);
for (const f of process.argv.slice(3)) {
  try { const g = await c.subscribeAsync(f, { qos: 1 }); console.log(f, JSON.stringify(g)); }
  catch (e) { console.log(f, 'ERR', e.message); }
}
await c.endAsync();
