/**
 * Reconnects are driven by the link, not mqtt.js: exponential backoff with jitter and a cap,
 * on an injected clock and random source, so the schedule is exact. A real broker goes away
 * and comes back on the same (ephemeral) port.
 */
import t from 'tap';
import { backoffDelay, createAgentLink, type AgentLink } from '@edgefleet/agent';
import { deviceTopic, encodeMessage, type AnyMessage } from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { createFakeClock } from '../helpers/fake-clock.js';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { watchTopics } from '../helpers/mqtt-watch.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('backoff schedule is deterministic, resets after a connect, and subscriptions come back', async (t) => {
  const probe = await startTestBroker();
  const port = probe.port;
  const url = probe.url;
  await probe.close(); // nothing listens on the port now: connects are refused

  const clock = createFakeClock();
  const randoms = [0.2, 0.8, 0.5, 1, 0, 0.3, 0.6];
  let i = 0;
  const random = () => randoms[i++ % randoms.length] as number;
  const policy = { initialMs: 100, factor: 2, maxMs: 500, jitter: 0.5 };
  const link: AgentLink = createAgentLink(
    linkOptions({
      brokerUrl: url,
      deviceId: 'dev-r',
      logger: recordingLogger().logger,
      clock,
      random,
      backoff: policy,
      connectTimeoutMs: 2_000,
    }),
  );
  t.teardown(() => link.stop({ clean: false }));
  void link.start();

  const expected: number[] = [];
  let j = 0;
  const expectNext = (attempt: number) =>
    expected.push(backoffDelay(attempt, policy, () => randoms[j++ % randoms.length] as number));
  for (let attempt = 0; attempt < 5; attempt += 1) {
    await until(() => clock.scheduled.length === attempt + 1, `reconnect ${attempt} to be scheduled`);
    expectNext(attempt);
    t.equal(link.stats().state, 'offline');
    clock.fireNext();
  }
  t.same(clock.scheduled, expected, 'delays follow backoffDelay with the injected random values');
  t.same(expected, [60, 180, 300, 500, 250], 'capped at maxMs; jitter within [½, 1] of the step');

  // The broker comes back: the pending attempt connects and the link announces itself again.
  const broker = await startTestBroker({ port });
  t.teardown(() => broker.close());
  await until(() => clock.scheduled.length === 6, 'sixth reconnect to be scheduled');
  expectNext(5);
  clock.fireNext();
  await until(() => link.stats().state === 'online', 'online after the broker returned');
  t.equal(link.stats().connects, 1);
  t.equal(link.stats().reconnectAttempts, 6);

  // The broker restarts (losing the session): the next delay starts over from attempt 0.
  await broker.close();
  await until(() => link.stats().state === 'offline', 'offline after the broker went away');
  t.equal(link.stats().connectionsLost, 1);
  t.equal(
    link.stats().lastReconnectDelayMs,
    backoffDelay(0, policy, () => randoms[j % randoms.length] as number),
    'backoff restarts at attempt 0 after a good connection',
  );

  const again = await startTestBroker({ port });
  t.teardown(() => again.close());
  const watch = await watchTopics(again.url, deviceTopic('dev-r', 'hello'));
  t.teardown(() => watch.close());
  const received: Array<AnyMessage | null> = [];
  link.on('commands', (m) => received.push(m));
  clock.fireNext();
  await until(() => link.stats().connects === 2, 'second connect');
  await watch.waitFor(() => true, 5_000, 'hello after reconnect');

  // The new broker has no session for us: commands only arrive if the link resubscribed.
  const cmd = { type: 'command', v: 1, deviceId: 'dev-r', commandId: 'c1', name: 'ping', sentAt: 1 };
  // Publish until it lands (the SUBSCRIBE may still be in flight when hello arrives).
  const resend = setInterval(() => {
    void watch.client.publishAsync(deviceTopic('dev-r', 'commands'), encodeMessage(cmd as AnyMessage), { qos: 1 });
  }, 100);
  t.teardown(() => clearInterval(resend));
  await until(() => received.length >= 1, 'command delivered after resubscribe');
  clearInterval(resend);
  t.match(received[0], { type: 'command', commandId: 'c1' });
});

t.test(
  'setReachable(false) drops the connection like a lost network and holds every reconnect until the network is back',
  async (t) => {
    const broker = await startTestBroker();
    t.teardown(() => broker.close());
    const clock = createFakeClock();
    const link = createAgentLink(
      linkOptions({
        brokerUrl: broker.url,
        deviceId: 'dev-net',
        logger: recordingLogger().logger,
        clock,
        random: () => 0.5,
        backoff: { initialMs: 100, factor: 2, maxMs: 400, jitter: 0 },
      }),
    );
    t.teardown(() => link.stop({ clean: false }));
    const statuses = await watchTopics(broker.url, deviceTopic('dev-net', 'status'));
    t.teardown(() => statuses.close());
    await link.start();

    link.setReachable(false);
    await until(() => link.stats().state === 'offline', 'the link notices');
    await until(() => statuses.seen.some((m) => m.json().state === 'offline'), 'the broker publishes the will');
    t.equal(statuses.seen.at(-1)?.json().reason, 'lost', 'the will, not a clean offline: no DISCONNECT was sent');
    for (let k = 0; k < 4; k += 1) clock.fireNext();
    t.equal(link.stats().state, 'offline', 'attempts fail while there is no network');
    t.equal(link.stats().reconnectAttempts, 4);
    t.same(clock.scheduled.slice(-4), [200, 400, 400, 400], 'each failed attempt waits its backoff');
    await t.rejects(
      link.publish('heartbeat', {
        type: 'heartbeat',
        v: 1,
        deviceId: 'dev-net',
        seq: 0,
        uptimeMs: 0,
        currentModel: null,
        sentAt: 0,
      } as AnyMessage),
      { code: 'EF_ERR_LINK_OFFLINE' },
    );

    link.setReachable(true);
    clock.fireNext();
    await until(() => link.stats().state === 'online', 'online once the network is back');
    t.equal(link.stats().connects, 2);
    t.equal(link.stats().connectionsLost, 1);
    link.setReachable(true);
    t.equal(link.stats().state, 'online', 'setting it again changes nothing');
  },
);
