import t from 'tap';
import { createVirtualClocks } from '@edgefleet/simulators';

t.test('clocks on one virtual time fire only their own timers, and time never runs backwards', async (t) => {
  const [devices, server] = createVirtualClocks(1000, 2);
  if (!devices || !server) throw new Error('two clocks');
  const fired: string[] = [];
  devices.setTimeout(() => fired.push(`device@${devices.now()}`), 500);
  server.setTimeout(() => fired.push(`server@${server.now()}`), 300);
  devices.advanceTo(2000);
  t.same(fired, ['device@1500'], "the devices' clock fires its own timer only");
  t.equal(server.now(), 2000, 'both read the one time');
  server.advanceTo(2000);
  t.same(fired, ['device@1500', 'server@2000'], "the server's due timer fires at the time already reached");
  t.throws(() => server.advanceTo(1999), RangeError);
});
