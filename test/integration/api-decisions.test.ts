/**
 * Admin API, decisions and recent events: the control loop's stored decisions of a class
 * (oldest first, limit/since), decision counts by kind in /metrics, recent fleet events as
 * JSON; validation and scopes.
 */
import t from 'tap';
import type { ControlAction, DecisionKind } from '@edgefleet/server/control/index';
import { EMPTY_MEMORY } from '@edgefleet/server/control/index';
import { startApi } from '../helpers/api.js';

const summary = {
  activeDevices: 3,
  breachingDevices: 2,
  throttledDevices: 2,
  fractions: { latencyP95Ms: 0.67 },
  currentRecipe: 'fp32',
  currentSha: null,
  latencyRatio: 1.8,
  planId: 1,
};

t.test('decisions and recent events over the API', async (t) => {
  const { call, expectError, reader, server } = await startApi(t);
  const control = server.repos().control;
  const record = (id: string, at: number, kind: DecisionKind, actions: ControlAction[] = []) =>
    control.record(
      {
        id,
        deviceClass: 'cam-a',
        at,
        kind,
        reason: `${kind} because of a test`,
        budgets: ['latencyP95Ms'],
        summary,
        actions,
      },
      { deviceClass: 'cam-a', memory: EMPTY_MEMORY, updatedAt: at },
    );
  await record('d1', 1_000, 'watching');
  await record('d2', 2_000, 'deploy', [
    {
      kind: 'rollout',
      id: 'a1',
      deviceClass: 'cam-a',
      artifactSha: 'c'.repeat(64),
      recipe: 'int8-static',
      deviceIds: null,
      cohort: null,
      desiredHash: 'h',
    },
  ]);
  await record('d3', 3_000, 'recovered');
  await control.setOutcome('d2', [{ action: 'a1', status: 'done', rolloutId: 'r-1' }]);

  await t.test("a class's decisions, oldest first, with actions and outcomes", async (t) => {
    const res = await call('GET', '/v1/classes/cam-a/decisions', reader);
    t.equal(res.status, 200);
    const list = res.body['decisions'] as Array<{
      id: string;
      kind: string;
      actions: Array<{ kind: string }>;
      outcome: unknown;
      summary: { breachingDevices: number };
    }>;
    t.same(
      list.map((d) => d.kind),
      ['watching', 'deploy', 'recovered'],
    );
    t.match(list[1], {
      actions: [{ kind: 'rollout', recipe: 'int8-static' }],
      outcome: [{ rolloutId: 'r-1' }],
      summary: { breachingDevices: 2 },
    });
    t.same(
      (
        (await call('GET', '/v1/classes/cam-a/decisions?since=1500', reader)).body['decisions'] as Array<{ id: string }>
      ).map((d) => d.id),
      ['d2', 'd3'],
      'since',
    );
    t.match(await call('GET', '/v1/classes/other/decisions', reader), {
      status: 200,
      body: { deviceClass: 'other', decisions: [] },
    });
    expectError(t, await call('GET', '/v1/classes/cam-a/decisions?limit=0', reader), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('GET', '/v1/classes/cam-a/decisions?colour=red', reader), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('GET', '/v1/classes/cam-a/decisions', null), 'EF_ERR_AUTH_MISSING');
  });

  await t.test('decision counts by kind in /metrics', async (t) => {
    const text = (await call('GET', '/metrics', reader)).body['text'] as string;
    t.match(text, /^edgefleet_control_decisions_total\{kind="deploy"\} 1$/m);
    t.match(text, /^edgefleet_control_decisions_total\{kind="watching"\} 1$/m);
  });

  await t.test('recent events as JSON', async (t) => {
    server.events.publish({ type: 'device.online', deviceId: 'cam-1' });
    server.events.publish({ type: 'device.offline', deviceId: 'cam-1', reason: 'test' });
    const all = await call('GET', '/v1/events/recent', reader);
    t.equal(all.status, 200);
    const events = all.body['events'] as Array<{ seq: number; event: { type: string } }>;
    t.ok(
      events.some((e) => e.event.type === 'token.created'),
      'token creation from the harness is there',
    );
    t.same(
      events.slice(-2).map((e) => e.event.type),
      ['device.online', 'device.offline'],
      'oldest first',
    );
    const filtered = await call('GET', '/v1/events/recent?types=device.offline', reader);
    t.same(
      (filtered.body['events'] as Array<{ event: { type: string } }>).map((e) => e.event.type),
      ['device.offline'],
    );
    const last = events.at(-1)?.seq ?? 0;
    t.match(
      await call('GET', `/v1/events/recent?after=${last}`, reader),
      { body: { events: [] } },
      'after the newest: nothing',
    );
    t.equal(((await call('GET', '/v1/events/recent?limit=1', reader)).body['events'] as unknown[]).length, 1);
    expectError(t, await call('GET', '/v1/events/recent?limit=5000', reader), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('GET', '/v1/events/recent', null), 'EF_ERR_AUTH_MISSING');
  });
});
