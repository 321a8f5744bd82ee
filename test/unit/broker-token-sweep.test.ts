/**
 * The dynamic security mode's token sweep works from the broker's own list of enrollment
 * clients, so a token created through another replica (which this one never saw) is retired
 * here once it is used up or expired; live tokens and devices are left alone.
 */
import t from 'tap';
import pino from 'pino';
import type { AuthService } from '@edgefleet/server';
import { dynsecBrokerCredentials } from '@edgefleet/server/auth/broker-credentials';
import type { DynsecClient, DynsecCommand, DynsecResult } from '@edgefleet/server/auth/dynsec-client';
import type { Scheduler, TaskSpec } from '@edgefleet/server/schedule/scheduler';

t.test('the sweep retires enrollment clients the broker has and the store no longer holds live', async (t) => {
  const sent: DynsecCommand[] = [];
  // The broker: a live token, one used up through another replica, a device and the server.
  const onBroker = ['enroll-live', 'enroll-spent', 'cam-1', 'edgefleet-server'];
  const client: DynsecClient = {
    async send(commands): Promise<DynsecResult[]> {
      sent.push(...commands);
      return commands.map((c) =>
        c.command === 'listClients' ? { error: null, data: { clients: onBroker } } : { error: null, data: null },
      );
    },
    probe: async () => true,
    close: () => undefined,
  };
  const tasks: TaskSpec[] = [];
  const scheduler = { add: (task: TaskSpec) => tasks.push(task) } as unknown as Scheduler;
  const auth = { liveEnrollTokens: async () => [{ id: 'live' }] } as unknown as AuthService;
  await dynsecBrokerCredentials({ client, auth, scheduler, logger: pino({ level: 'silent' }), now: Date.now });
  const sweep = tasks.find((task) => task.name === 'broker-token-sweep');
  t.ok(sweep, 'the sweep is scheduled');
  await sweep?.run(Date.now());
  const deleted = sent.filter((c) => c.command === 'deleteClient').map((c) => c['username']);
  t.same(deleted, ['enroll-spent'], 'only the spent token’s client is deleted, though this replica never created it');
  t.ok(
    sent.some((c) => c.command === 'deleteRole' && c['rolename'] === 'edgefleet-enroll-spent'),
    'and its role',
  );
});
