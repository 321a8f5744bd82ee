import { Command, InvalidArgumentError } from 'commander';
import { createLogger, loadServerConfig } from '@edgefleet/server';
import {
  openRolloutAdmin,
  readGoldenFile,
  type RolloutPolicyInput,
  type RolloutStatus,
} from '@edgefleet/server/deploy/index';
import { EdgefleetError, type RolloutStatusView } from '@edgefleet/shared';
import { addApiFlags, apiClientFromFlags } from '../api-client.js';
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

export function statusText(s: RolloutStatus | RolloutStatusView): string {
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

/** `--api` picks the admin API; without it the command works on the data directory. */
interface DataDirFlag {
  dataDir?: string;
  api?: string;
  token?: string;
}
type RolloutRow = RolloutStatus['rollout'] | RolloutStatusView['rollout'];

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
function admin(flags: DataDirFlag, readonly = false) {
  const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
  return openRolloutAdmin({ dataDir: config.dataDir, logger: createLogger({ level: 'silent' }), readonly });
}

/**
 * `edgefleet rollout start|status|abort` on the data directory: start and abort are written
 * to the store and carried out by the running server's next evaluation tick (about a second).
 * With `--api URL` (and `--token`) the same commands go through the admin API instead, and the
 * server acts at once.
 */
export function rolloutCommand(): Command {
  const cmd = new Command('rollout').description(
    'Staged rollouts of a variant to a device class: canary, growing waves, abort criteria, rollback.',
  );
  addApiFlags(cmd.command('start'))
    .description('Start a rollout; the running server (same --data-dir) notifies the canary on its next tick.')
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
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--json', 'print the rollout status as JSON')
    .action(
      async (
        f: DataDirFlag & {
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
        },
      ) => {
        if ((f.variant === undefined) === (f.model === undefined))
          throw new InvalidArgumentError('give exactly one of --variant SHA or --model FILE');
        const abort = {
          ...(f.abortFailurePct === undefined ? {} : { failedPct: f.abortFailurePct }),
          ...(f.abortTimeoutPct === undefined ? {} : { timedOutPct: f.abortTimeoutPct }),
          ...(f.abortMin === undefined ? {} : { minFinished: f.abortMin }),
        };
        const policy: RolloutPolicyInput = {
          ...(f.canary ? { canary: f.canary } : {}),
          ...(f.rate === undefined ? {} : { baseCount: f.rate }),
          ...(f.growth === undefined ? {} : { growthFactor: f.growth }),
          abort,
          ...(f.deviceTimeout === undefined ? {} : { deviceTimeoutMs: f.deviceTimeout }),
          ...(f.rolloutTimeout === undefined ? {} : { rolloutTimeoutMs: f.rolloutTimeout }),
        };
        if (f.api !== undefined) {
          if (f.variant === undefined)
            throw new EdgefleetError(
              'EF_ERR_ROLLOUT_INVALID',
              'with --api, give --variant SHA (upload the model with POST /v1/models and plan it; GET /v1/models/{sha}/variants lists artifacts)',
            );
          const s = await apiClientFromFlags(f).post<RolloutStatusView>('/v1/rollouts', {
            deviceClass: f.class,
            variant: f.variant,
            golden: readGoldenFile(f.golden),
            policy,
          });
          process.stdout.write(
            f.json
              ? `${JSON.stringify(s, null, 2)}\n`
              : `${statusText(s)}\nstarted; the canary has been notified. Follow it with \`edgefleet rollout status ${s.rollout.id} --api ${f.api}\`\n`,
          );
          return;
        }
        const a = admin(f);
        try {
          const s = await a.start({
            deviceClass: f.class,
            goldenFile: f.golden,
            policy,
            ...(f.variant ? { variant: f.variant } : {}),
            ...(f.model ? { modelFile: f.model } : {}),
          });
          process.stdout.write(
            f.json
              ? `${JSON.stringify(s, null, 2)}\n`
              : `${statusText(s)}\nstarted; the running server notifies the canary on its next tick. Follow it with \`edgefleet rollout status ${s.rollout.id}\`\n`,
          );
        } finally {
          a.close();
        }
      },
    );
  addApiFlags(cmd.command('status [id]'))
    .description('Per-wave counts and per-device states of a rollout; without ID, the list of rollouts.')
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--json', 'print JSON instead of tables')
    .action(async (id: string | undefined, f: DataDirFlag & { json?: boolean }) => {
      if (f.api !== undefined) {
        const client = apiClientFromFlags(f);
        if (id !== undefined) {
          const s = await client.get<RolloutStatusView>(`/v1/rollouts/${encodeURIComponent(id)}`);
          process.stdout.write(f.json ? `${JSON.stringify(s, null, 2)}\n` : statusText(s));
          return;
        }
        const { rollouts } = await client.get<{ rollouts: RolloutStatusView['rollout'][] }>('/v1/rollouts');
        process.stdout.write(f.json ? `${JSON.stringify(rollouts, null, 2)}\n` : listText(rollouts));
        return;
      }
      const a = admin(f, true);
      try {
        if (id !== undefined) {
          const s = a.rollouts.status(id);
          process.stdout.write(f.json ? `${JSON.stringify(s, null, 2)}\n` : statusText(s));
          return;
        }
        const list = a.rollouts.list();
        process.stdout.write(f.json ? `${JSON.stringify(list, null, 2)}\n` : listText(list));
      } finally {
        a.close();
      }
    });
  addApiFlags(cmd.command('abort <id>'))
    .description(
      'Abort a rollout: no further waves; devices already updated roll back (carried out by the running server).',
    )
    .option('--reason <text>', 'recorded with the abort', 'aborted by an operator')
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--json', 'print the rollout status as JSON')
    .action(async (id: string, f: DataDirFlag & { reason: string; json?: boolean }) => {
      if (f.api !== undefined) {
        const s = await apiClientFromFlags(f).post<RolloutStatusView>(`/v1/rollouts/${encodeURIComponent(id)}/abort`, {
          reason: f.reason,
        });
        process.stdout.write(
          f.json
            ? `${JSON.stringify(s, null, 2)}\n`
            : `rollout ${id} aborted: ${s.rollout.state}; updated devices roll back\n${statusText(s)}`,
        );
        return;
      }
      const a = admin(f);
      try {
        const s = a.rollouts.requestAbort(id, f.reason);
        process.stdout.write(
          f.json
            ? `${JSON.stringify(s, null, 2)}\n`
            : `abort of ${id} requested; the running server stops further waves and rolls updated devices back on its next tick\n`,
        );
      } finally {
        a.close();
      }
    });
  return cmd;
}
