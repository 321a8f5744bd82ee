/**
 * The closed loop on real measurements, in real time (issue 23): agent processes on this host
 * run a steady workload and report measured windows; their cgroup CPU quota drops to a quarter
 * of a core; the story must be breach → deploy → recovered from those measured windows, and no
 * re-deploy after the quota is lifted. Thresholds are tolerant (a shared host's load moves every
 * figure); the time limits are the story's deadlines, not assertions. Skipped, with the reason,
 * where cgroups are not writable (not root, not Linux, no cpu controller).
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { detectCpuCgroup } from '@edgefleet/simulators';
import { runRealLoop } from '@edgefleet/cli/scenario/real-loop';

t.setTimeout(300_000);
const support = detectCpuCgroup();
const skip = support.ok
  ? false
  : `cgroups are not writable here, so no real CPU quota can be applied: ${support.reason}`;
const MODEL = fileURLToPath(new URL('../../models/zoo/mnist-cnn-large.onnx', import.meta.url));
// Half the channels of every prunable group, without the refit (it takes minutes on a busy host): fast to build,
// ~6 points less accurate, hence the looser accuracy budget.
const FAST = JSON.stringify([{ pass: 'prune-structured', ratio: 0.5, importance: 'l1' }]);

t.test(
  'a real CPU quota: breach → deploy → recovered, from measured windows; no flap once lifted',
  { skip, timeout: 300_000 },
  async (t) => {
    const r = await runRealLoop({
      dataDir: t.testdir(),
      modelPath: MODEL,
      fastRecipe: FAST,
      evalSpec: 'mnist:test:200',
      maxAccuracyDropPts: 10,
      devices: 2,
      baselineMs: 12_000,
      holdAfterRecoveryMs: 2000,
      watchAfterLiftMs: 8000,
      timeoutMs: 90_000,
      print: (line) => {
        t.comment(line);
      },
    });
    const m = r.marks;
    t.comment(
      `phases: ${JSON.stringify({ before: r.before, during: r.during, after: r.after, afterLift: r.afterLift })}`,
    );
    t.comment(`predictor: ${JSON.stringify(r.predictor)}`);
    t.comment(
      `marks from the onset: ` +
        `${JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v - (m.onset ?? 0)])))}`,
    );
    t.ok(r.budgetMs !== null && r.budgetMs > 0, `a budget from the baseline: ${r.budgetMs} ms`);
    t.ok(m.firstBreach !== undefined, 'agents reported a latency breach (the story is in the comments above)');
    t.ok(m.decision !== undefined && m.decision >= (m.onset ?? 0), 'the loop decided after the quota dropped');
    const deploy = r.decisions.find((d) => d.kind === 'deploy');
    t.match(deploy?.reason, /measured\/predicted latency [0-9.]+/, 'the decision quotes the measured/predicted ratio');
    t.equal(r.deployed, r.fast?.recipe, 'it rolled out the faster stored variant');
    t.ok(m.rolloutDone !== undefined && m.recovered !== undefined, 'the rollout completed and the class recovered');
    t.ok(
      (r.during.medianP95Ms ?? 0) > (r.budgetMs ?? Infinity),
      `measured p95 under the quota (${r.during.medianP95Ms} ms) broke the budget`,
    );
    t.ok(
      (r.after.medianP95Ms ?? Infinity) < (r.budgetMs ?? 0),
      `measured p95 after the rollout (${r.after.medianP95Ms} ms) is back under it`,
    );
    t.equal(r.deploysAfterLift, 0, 'no re-deploy once the quota is lifted');
    t.ok(
      r.throttling.some((x) => x.throttled > 0),
      'the kernel did throttle the agents',
    );
  },
);
