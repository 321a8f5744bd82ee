import t from 'tap';
import { readFileSync } from 'node:fs';
import { DEVICE_CHANNELS, ENROLL_CHANNELS, MESSAGE_SCHEMAS, SERVER_CHANNELS } from '@edgefleet/shared';

const doc = readFileSync(new URL('../../shared/PROTOCOL.md', import.meta.url), 'utf8');
const headings = new Set([...doc.matchAll(/^### (\S+)\s*$/gm)].map((m) => m[1]));

t.test('every message schema has a ### entry in shared/PROTOCOL.md', async (t) => {
  const types = Object.keys(MESSAGE_SCHEMAS);
  t.ok(types.length >= 3, 'the registry is not empty');
  for (const type of types) t.ok(headings.has(type), `PROTOCOL.md documents ${type}`);
});

t.test('every channel a schema travels on is in the topic table', async (t) => {
  const channels = new Set(Object.values(MESSAGE_SCHEMAS).map((entry) => entry.channel));
  for (const channel of channels) {
    t.ok(
      [...DEVICE_CHANNELS, ...SERVER_CHANNELS, ...ENROLL_CHANNELS].includes(channel),
      `${channel} is a known channel`,
    );
    t.match(doc, new RegExp(`^\\| \`${channel}\` \\|`, 'm'), `topic table row for ${channel}`);
  }
});
