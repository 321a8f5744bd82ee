import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import type { RolloutPolicyInput } from '@edgefleet/server/deploy/index';
import {
  artifactStoredSchema,
  asError,
  EdgefleetError,
  isEdgefleetError,
  rolloutListSchema,
  rolloutStatusSchema,
  stripUndefined,
  type RolloutStatusView,
} from '@edgefleet/shared';
import type { ApiClient } from '../api-client.js';
import { addAdminFlags, withFleet, type AdminFlags, type FleetConnection } from '../fleet-connection.js';
import { goldenFor, goldenReportLine, parseGoldenSource, type GoldenSource } from '../golden-source.js';
import { planChoice, type PlanRef } from '../plan-choice.js';
import { watchRollout } from '../rollout-watch.js';
import { usageError } from '../usage.js';
import { formatTable } from './devices.js';

/** "60s", "5m", "1h", "1500ms" or a bare number of seconds → ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('use a duration such as 60s, 5m, 1h or 1500ms');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

/** "10%" → percent, "3" → count. */
export function parseCanary(text: string): RolloutPolicyInput['canary'] {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('use a percentage (10%) or a device count (3)');
  return m[2] === '%' ? { percent: Number(m[1]) } : { count: Math.max(1, Math.round(Number(m[1]))) };
}

const num = (text: string): number => {
  const n = Number(text);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('not a number');
  return n;
};

/** Longest failure detail shown in the device table; `--json` has all of it. */
const DETAIL_CHARS = 120;

/** `step/reason: detail` — the detail is the real cause (onnxruntime's message, the accuracy reached). */
export function failureText(f: { step: string; reason: string; detail: string }): string {
  const detail = f.detail.replace(/\s+/g, ' ').trim();
  const short = detail.length > DETAIL_CHARS ? `${detail.slice(0, DETAIL_CHARS - 1)}…` : detail;
  return `${f.step}/${f.reason}${short ? `: ${short}` : ''}`;
}

export function statusText(s: RolloutStatusView): string {
  const r = s.rollout;
  const head =
    `rollout ${r.id}  class ${r.deviceClass}  variant ${r.variantId} (${r.artifactSha.slice(0, 12)})  ` +
    `${r.state}${r.reason ? ` (${r.reason})` : ''}  wave ${r.currentWave + 1}/${r.waveCount}`;
  const waves = formatTable(
    ['WAVE', 'SIZE', 'PENDING', 'IN FLIGHT', 'SUCCEEDED', 'FAILED', 'TIMED OUT', 'ROLLED BACK', 'CANCELLED'],
    s.waves.map((w) => [
      String(w.index),
      String(w.size),
      String(w.counts.pending),
      String(w.counts.notified + w.counts['in-progress'] + w.counts['rolling-back']),
      String(w.counts.succeeded),
      String(w.counts.failed),
      String(w.counts['timed-out']),
      String(w.counts['rolled-back']),
      String(w.counts.cancelled),
    ]),
  );
  const devices = formatTable(
    ['DEVICE', 'WAVE', 'STATE', 'AGENT', 'FAILURE'],
    s.devices.map((d) => [
      d.deviceId,
      String(d.wave),
      d.state,
      d.agentState ?? '-',
      d.failure ? failureText(d.failure) : '-',
    ]),
  );
  const origin = r.origin?.kind === 'catch-up' ? `\ncatch-up of ${r.origin.sourceRolloutId}: ${r.origin.reason}` : '';
  return `${head}${origin}\n\n${waves}\n\n${devices}\n`;
}

type RolloutRow = RolloutStatusView['rollout'];

function listText(list: readonly RolloutRow[]): string {
  if (list.length === 0)
    return 'no rollouts yet; start one with `edgefleet rollout start --class C --plan --golden auto`\n';
  return `${formatTable(
    ['ID', 'CLASS', 'VARIANT', 'ORIGIN', 'STATE', 'WAVE', 'STARTED'],
    list.map((r) => [
      r.id,
      r.deviceClass,
      r.variantId,
      r.origin?.kind ?? 'class',
      r.state,
      `${r.currentWave + 1}/${r.waveCount}`,
      new Date(r.createdAt).toISOString(),
    ]),
  )}\n`;
}

interface StartFlags extends AdminFlags {
  class: string;
  variant?: string;
  model?: string;
  plan?: PlanRef;
  golden?: GoldenSource;
  goldenMargin?: number;
  canary?: RolloutPolicyInput['canary'];
  rate?: number;
  growth?: number;
  abortFailurePct?: number;
  abortTimeoutPct?: number;
  abortMin?: number;
  deviceTimeout?: number;
  rolloutTimeout?: number;
  json?: boolean;
}

function policyOf(f: StartFlags): RolloutPolicyInput {
  return {
    ...(f.canary ? { canary: f.canary } : {}),
    ...stripUndefined({ baseCount: f.rate, growthFactor: f.growth }),
    abort: stripUndefined({ failedPct: f.abortFailurePct, timedOutPct: f.abortTimeoutPct, minFinished: f.abortMin }),
    ...stripUndefined({ deviceTimeoutMs: f.deviceTimeout, rolloutTimeoutMs: f.rolloutTimeout }),
  };
}

/**
 * `--variant SHA` as given, `--plan [ID]`'s choice, or
 * `--model FILE` stored as an artifact first (`POST /v1/artifacts`).
 */
async function variantOf(api: ApiClient, f: StartFlags): Promise<{ sha: string; variantId?: string }> {
  if (f.variant !== undefined) return { sha: f.variant };
  if (f.plan !== undefined) {
    const choice = await planChoice(api, f.class, f.plan);
    process.stderr.write(
      `plan ${choice.planId} chose ${choice.recipe}: variant ${choice.variantId} (sha256 ${choice.sha256})\n`,
    );
    return { sha: choice.sha256, variantId: choice.variantId };
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(f.model ?? '');
  } catch (err: unknown) {
    throw usageError(`--model ${f.model}: cannot read it (${asError(err).message})`, { path: f.model });
  }
  try {
    return { sha: (await api.postBytes('/v1/artifacts', bytes, artifactStoredSchema)).sha256 };
  } catch (err: unknown) {
    if (!isEdgefleetError(err, 'EF_ERR_MODEL_PARSE')) throw err;
    throw usageError(
      `--model ${f.model} is not an ONNX model (${err.message}); give an ONNX file, or --variant SHA of a ` +
        `built variant`,
      { path: f.model },
    );
  }
}

/** What happens next, in words: the server notifies at once; recorded without one, when it starts. */
function nextStep(fleet: FleetConnection, running: string, recorded: string): string {
  return fleet.local ? `no server runs on ${fleet.dataDir}, so ${recorded}` : running;
}

async function startRollout(f: StartFlags): Promise<void> {
  if ([f.variant, f.model, f.plan].filter((x) => x !== undefined).length !== 1)
    throw usageError('give exactly one of --plan [ID], --variant SHA or --model FILE');
  await withFleet(f, { command: 'edgefleet rollout start', writes: true }, async (api, fleet) => {
    const variant = await variantOf(api, f);
    let golden: Awaited<ReturnType<typeof goldenFor>>['golden'] | undefined;
    if (f.golden) {
      const made = await goldenFor(api, variant.sha, f.golden, f.goldenMargin);
      if (made.report) process.stderr.write(`${goldenReportLine(made.report)}\n`);
      golden = made.golden;
    }
    const body = {
      deviceClass: f.class,
      variant: variant.sha,
      policy: policyOf(f),
      ...stripUndefined({ golden, variantId: variant.variantId }),
    };
    const s = await api.post('/v1/rollouts', body, rolloutStatusSchema);
    if (f.json) return void process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    const next = nextStep(
      fleet,
      'the canary has been notified',
      'the canary is notified when `edgefleet server` starts on it',
    );
    process.stdout.write(
      `${statusText(s)}\nstarted; ${next}. Follow it with \`edgefleet rollout status ${s.rollout.id}\`\n`,
    );
  });
}

/** `status --watch`: progress lines on stderr, then the final status as `status` prints it. */
async function watch(api: ApiClient, id: string | undefined, f: { json?: boolean; interval?: number }): Promise<void> {
  const target = id ?? (await api.get('/v1/rollouts', rolloutListSchema)).rollouts.at(-1)?.id;
  if (target === undefined) return void process.stdout.write(listText([]));
  const last = await watchRollout(api, target, {
    intervalMs: f.interval ?? 1000,
    write: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(f.json ? `${JSON.stringify(last, null, 2)}\n` : statusText(last));
  if (last.rollout.state === 'aborted')
    throw new EdgefleetError(
      'EF_ERR_DEPLOY_FAILED',
      `rollout ${target} aborted${last.rollout.reason ? `: ${last.rollout.reason}` : ''}; each device's ` +
        `failure is above`,
      { rolloutId: target },
    );
}

/**
 * `edgefleet rollout start|status|abort`, through the admin API of the server on the data
 * directory (or `--api`). With no server running, the services this command starts record the
 * rollout or the abort, and the server carries it out when it starts.
 */
export function rolloutCommand(): Command {
  const cmd = new Command('rollout').description(
    'Staged rollouts of a variant to a device class: canary, growing waves, abort criteria, rollback.',
  );
  addAdminFlags(cmd.command('start'))
    .description('Start a rollout; the server notifies the canary at once (or when it starts, if none runs).')
    .requiredOption('--class <name>', 'device class to roll out to')
    .option('--plan [id]', "roll out the variant a plan chose (default: the class's newest plan)")
    .option('--variant <sha>', 'stored artifact (variant) by sha256 or a unique prefix')
    .option('--model <file>', 'an ONNX file to store and roll out')
    .option(
      '--golden <source>',
      "golden set for the on-device smoke test: mnist[:N] (MNIST test digits), auto[:N] (the model's evaluation " +
        'data), a sample directory, or a JSON file (PROTOCOL.md 6.5); the server runs it on the variant first. ' +
        "Default: the class's latest rollout's golden set",
      parseGoldenSource,
    )
    .option(
      '--golden-margin <pts>',
      'made golden sets: minAccuracy = host accuracy on the rows minus this many points (default 5)',
      num,
    )
    .option('--canary <n|p%>', 'first wave: a count or a percentage', parseCanary)
    .option('--rate <n>', 'devices in the first wave after the canary', num)
    .option('--growth <f>', 'each later wave is this many times the previous (1–5)', num)
    .option('--abort-failure-pct <p>', 'abort when this % of finished devices failed', num)
    .option('--abort-timeout-pct <p>', 'abort when this % of finished devices timed out', num)
    .option('--abort-min <n>', 'apply abort criteria once this many devices finished', num)
    .option('--device-timeout <d>', 'per-device timeout, e.g. 60s or 10m', parseDuration)
    .option('--rollout-timeout <d>', 'whole-rollout timeout, e.g. 2h', parseDuration)
    .option('--json', 'print the rollout status as JSON')
    .action(startRollout);
  addAdminFlags(cmd.command('status [id]'))
    .description('Per-wave counts and per-device states of a rollout; without ID, the list of rollouts.')
    .option('--json', 'print JSON instead of tables')
    .option('--watch', 'follow the rollout (the newest, without ID) until it completes or aborts, a line per change')
    .option('--interval <d>', 'with --watch: how often to look, e.g. 1s or 500ms (default 1s)', parseDuration)
    .action(async (id: string | undefined, f: AdminFlags & { json?: boolean; watch?: boolean; interval?: number }) => {
      await withFleet(f, { command: 'edgefleet rollout status', writes: false }, async (api) => {
        if (f.watch) return watch(api, id, f);
        if (id !== undefined) {
          const s = await api.get(`/v1/rollouts/${encodeURIComponent(id)}`, rolloutStatusSchema);
          process.stdout.write(f.json ? `${JSON.stringify(s, null, 2)}\n` : statusText(s));
          return;
        }
        const { rollouts } = await api.get('/v1/rollouts', rolloutListSchema);
        process.stdout.write(f.json ? `${JSON.stringify(rollouts, null, 2)}\n` : listText(rollouts));
      });
    });
  addAdminFlags(cmd.command('abort <id>'))
    .description('Abort a rollout: no further waves; devices already updated roll back.')
    .option('--reason <text>', 'recorded with the abort', 'aborted by an operator')
    .option('--json', 'print the rollout status as JSON')
    .action(async (id: string, f: AdminFlags & { reason: string; json?: boolean }) => {
      await withFleet(f, { command: 'edgefleet rollout abort', writes: true }, async (api, fleet) => {
        const path = `/v1/rollouts/${encodeURIComponent(id)}/abort`;
        const s = await api.post(path, { reason: f.reason }, rolloutStatusSchema);
        if (f.json) return void process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        const next = nextStep(
          fleet,
          'updated devices roll back',
          'updated devices roll back when `edgefleet server` starts on it',
        );
        process.stdout.write(`rollout ${id} aborted: ${s.rollout.state}; ${next}\n${statusText(s)}`);
      });
    });
  return cmd;
}
