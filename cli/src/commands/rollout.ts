import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import type { RolloutPolicyInput } from '@edgefleet/server/deploy/index';
import {
  artifactStoredSchema,
  asError,
  EdgefleetError,
  goldenSetSchema,
  isEdgefleetError,
  rolloutListSchema,
  rolloutStatusSchema,
  stripUndefined,
  type GoldenSet,
  type RolloutStatusView,
} from '@edgefleet/shared';
import { z } from 'zod';
import type { ApiClient } from '../api-client.js';
import { addAdminFlags, withFleet, type AdminFlags, type FleetConnection } from '../fleet-connection.js';
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

export function statusText(s: RolloutStatusView): string {
  const r = s.rollout;
  const head = `rollout ${r.id}  class ${r.deviceClass}  variant ${r.variantId} (${r.artifactSha.slice(0, 12)})  ${r.state}${r.reason ? ` (${r.reason})` : ''}  wave ${r.currentWave + 1}/${r.waveCount}`;
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
      d.failure ? `${d.failure.step}/${d.failure.reason}` : '-',
    ]),
  );
  const origin = r.origin?.kind === 'catch-up' ? `\ncatch-up of ${r.origin.sourceRolloutId}: ${r.origin.reason}` : '';
  return `${head}${origin}\n\n${waves}\n\n${devices}\n`;
}

type RolloutRow = RolloutStatusView['rollout'];

function listText(list: readonly RolloutRow[]): string {
  if (list.length === 0)
    return 'no rollouts yet; start one with `edgefleet rollout start --class C --model FILE --golden FILE`\n';
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

/** Reads a golden set JSON file [EF-PROTO 6.5]: an unreadable file is a usage error, a wrong one an invalid rollout. */
export function readGoldenFile(path: string): GoldenSet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err: unknown) {
    throw usageError(`--golden ${path}: cannot read it as JSON (${asError(err).message})`, { path });
  }
  const parsed = goldenSetSchema.safeParse(json);
  if (!parsed.success)
    throw new EdgefleetError('EF_ERR_ROLLOUT_INVALID', `golden set ${path}: ${z.prettifyError(parsed.error)}`, {
      path,
    });
  return parsed.data;
}

interface StartFlags extends AdminFlags {
  class: string;
  variant?: string;
  model?: string;
  golden: string;
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

/** `--variant SHA` as given, or `--model FILE` stored as an artifact first (`POST /v1/artifacts`). */
async function variantOf(api: ApiClient, f: StartFlags): Promise<string> {
  if (f.variant !== undefined) return f.variant;
  let bytes: Buffer;
  try {
    bytes = readFileSync(f.model ?? '');
  } catch (err: unknown) {
    throw usageError(`--model ${f.model}: cannot read it (${asError(err).message})`, { path: f.model });
  }
  try {
    return (await api.postBytes('/v1/artifacts', bytes, artifactStoredSchema)).sha256;
  } catch (err: unknown) {
    if (!isEdgefleetError(err, 'EF_ERR_MODEL_PARSE')) throw err;
    throw usageError(
      `--model ${f.model} is not an ONNX model (${err.message}); give an ONNX file, or --variant SHA of a built variant`,
      { path: f.model },
    );
  }
}

/** What happens next, in words: the server notifies at once; recorded without one, when it starts. */
function nextStep(fleet: FleetConnection, running: string, recorded: string): string {
  return fleet.local ? `no server runs on ${fleet.dataDir}, so ${recorded}` : running;
}

async function startRollout(f: StartFlags): Promise<void> {
  if ((f.variant === undefined) === (f.model === undefined))
    throw usageError('give exactly one of --variant SHA or --model FILE');
  const golden = readGoldenFile(f.golden);
  await withFleet(f, { command: 'edgefleet rollout start', writes: true }, async (api, fleet) => {
    const body = { deviceClass: f.class, variant: await variantOf(api, f), golden, policy: policyOf(f) };
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
    .option('--variant <sha>', 'stored artifact (variant) by sha256 or a unique prefix')
    .option('--model <file>', 'an ONNX file to store and roll out')
    .requiredOption(
      '--golden <file>',
      'golden set JSON for the on-device smoke test (inputs, labels, minAccuracy; see PROTOCOL.md 6.5)',
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
    .action(async (id: string | undefined, f: AdminFlags & { json?: boolean }) => {
      await withFleet(f, { command: 'edgefleet rollout status', writes: false }, async (api) => {
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
