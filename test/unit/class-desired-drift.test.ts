/**
 * The catch-up rule for a device that drifts: it installed the class's variant after the class
 * settled on it, and reports another model since (it dropped it, or, like the farm's devices
 * before they reported their model, never says what it serves). The reconciler must not roll the
 * same variant out to it at every check; it waits out the retry window, as after a failure. A
 * device whose last install of the variant predates the desired state is still caught up at once.
 * The rule is the reconciler's; the stores' halves (lastDeployment, latestRollout) are in the
 * contract suite, so the repositories here are small in-memory stand-ins.
 */
import t from 'tap';
import { pino } from 'pino';
import { createClassDesiredReconciler } from '@edgefleet/server/deploy/class-desired';
import type { RolloutService } from '@edgefleet/server/deploy/rollout-service';
import type { ClassDesiredState, DesiredStateRepository, LastDeployment } from '@edgefleet/server/store/desired';
import type { DeviceRecord } from '@edgefleet/server/store/devices';

const SHA = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const SET_AT = 10_000;
const RETRY_MS = 3_600_000;
const desiredState: ClassDesiredState = {
  deviceClass: 'rpi4',
  rolloutId: 'r-class',
  variantId: 'v-a',
  artifactSha: SHA,
  setAt: SET_AT,
};

function harness(last: LastDeployment | null, serving: string | null) {
  const started: string[][] = [];
  const desired = {
    listDesired: async () => [desiredState],
    latestRollout: async () => (last ? { rolloutId: last.rolloutId, createdAt: last.at, origin: last.origin } : null),
    lastDeployment: async () => last,
  } as unknown as DesiredStateRepository;
  const rollouts = {
    list: async () => [],
    status: async () => ({ devices: [] }),
    start: async (req: { deviceIds: string[] }) => {
      started.push(req.deviceIds);
      return { rollout: { id: `r-catch-${started.length}` } };
    },
  } as unknown as RolloutService;
  const device = { id: 'dev-1', deviceClass: 'rpi4', state: 'online', currentModel: serving } as DeviceRecord;
  const reconciler = createClassDesiredReconciler({
    desired,
    rollouts,
    rolloutRepo: { get: async () => ({ golden: { sha256: 'g' } }) } as never,
    devices: { list: async () => [device] },
    logger: pino({ level: 'silent' }),
    retryMs: RETRY_MS,
  });
  return { reconciler, started };
}

t.test(
  'a device that installed the variant after the class settled, then drifted, waits the retry window',
  async (t) => {
    const last: LastDeployment = { rolloutId: 'r-catch-0', origin: 'catch-up', state: 'succeeded', at: SET_AT + 500 };
    const { reconciler, started } = harness(last, OTHER);
    t.same(await reconciler.reconcile(SET_AT + 1_000), [], 'not rolled out again at the next check');
    t.same(await reconciler.reconcile(SET_AT + 500 + RETRY_MS - 1), [], 'nor within the retry window');
    const later = await reconciler.reconcile(SET_AT + 500 + RETRY_MS);
    t.same(
      later.map((c) => c.deviceIds),
      [['dev-1']],
      'asked again once the window has passed',
    );
    t.same(started, [['dev-1']]);
  },
);

t.test('a device whose install of the variant predates the desired state is caught up at once', async (t) => {
  // It took part in the class rollout that set the desired state, and runs something else now.
  const last: LastDeployment = { rolloutId: 'r-class', origin: 'class', state: 'succeeded', at: SET_AT - 200 };
  const { reconciler, started } = harness(last, OTHER);
  t.same(
    (await reconciler.reconcile(SET_AT + 1_000)).map((c) => c.deviceIds),
    [['dev-1']],
  );
  t.same(started, [['dev-1']]);
});

t.test('a device already serving the variant, or never given it, is handled as before', async (t) => {
  const serving = harness({ rolloutId: 'r-catch-0', origin: 'catch-up', state: 'succeeded', at: SET_AT + 500 }, SHA);
  t.same(await serving.reconciler.reconcile(SET_AT + 1_000), [], 'serving it: nothing to do');
  const fresh = harness(null, null);
  t.same(
    (await fresh.reconciler.reconcile(SET_AT + 1_000)).map((c) => c.deviceIds),
    [['dev-1']],
    'a device never given the variant is caught up',
  );
});
