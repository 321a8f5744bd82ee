import { Command, InvalidArgumentError } from 'commander';
import {
  classListSchema,
  enrollTokenCreatedSchema,
  enrollTokenListSchema,
  enrollTokenViewSchema,
  type EnrollTokenView,
} from '@edgefleet/shared';
import { BUILTIN_CLASS_PROFILES } from '@edgefleet/server/plan/index';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { formatTable } from './devices.js';

/** `90s`, `15m`, `1h`, `7d`, or plain seconds → seconds. */
export function parseTtl(value: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration such as 3600, 90s, 15m, 1h or 7d');
  return Number(match[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[match[2] as string]!;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

const PROFILE_CHOICES = [...BUILTIN_CLASS_PROFILES.keys()].join('|');

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));

export function enrollTokensTable(tokens: readonly EnrollTokenView[]): string {
  return formatTable(
    ['ID', 'CLASS', 'USES', 'EXPIRES', 'REVOKED'],
    tokens.map((t) => [t.id, t.deviceClass, `${t.uses}/${t.maxUses}`, when(t.expiresAt), when(t.revokedAt)]),
  );
}

/** `edgefleet enroll-token create|list|revoke`. */
export function enrollTokenCommand(): Command {
  const command = new Command('enroll-token').description(
    'Enrollment tokens: let agents of a class enroll themselves (through the admin API; see --data-dir and --api).',
  );
  addAdminFlags(command.command('create'))
    .description('Create an enrollment token for a class and print it (shown once); start agents with --enroll-token.')
    .requiredOption('--class <name>', 'device class the enrolled devices belong to')
    .option('--uses <n>', 'how many devices may enroll with it', positiveInt, 1)
    .option('--ttl <duration>', 'lifetime: seconds or 90s, 15m, 1h, 7d', parseTtl, 86_400)
    .option('--json', 'print the created token as JSON')
    .action(async (flags: AdminFlags & { class: string; uses: number; ttl: number; json?: boolean }) => {
      const body = { deviceClass: flags.class, maxUses: flags.uses, ttlS: flags.ttl };
      const { created, configured } = await withFleet(
        flags,
        { command: 'edgefleet enroll-token create', writes: true },
        async (api) => ({
          created: await api.post('/v1/enroll-tokens', body, enrollTokenCreatedSchema),
          configured: (await api.get('/v1/classes', classListSchema)).classes.some((c) => c.name === flags.class),
        }),
      );
      // A class may be configured after its devices enroll (they wait, listed as unconfigured), but a typo
      // in the name would leave every device without a model: say so while the admin is still here.
      if (!configured)
        process.stderr.write(
          `note: class ${created.deviceClass} is not configured yet: its devices enroll but get no model until ` +
            `\`edgefleet class create ${created.deviceClass} --profile ${PROFILE_CHOICES}\`\n`,
        );
      if (flags.json) return void process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `enrollment token ${created.id}: class ${created.deviceClass}, ${created.maxUses} use(s), expires ` +
          `${when(created.expiresAt)} UTC. Not shown again.\n`,
      );
    });
  addAdminFlags(command.command('list'))
    .description('List enrollment tokens with uses and expiry.')
    .option('--json', 'print JSON')
    .action(async (flags: AdminFlags & { json?: boolean }) => {
      const { enrollTokens } = await withFleet(
        flags,
        { command: 'edgefleet enroll-token list', writes: false },
        (api) => api.get('/v1/enroll-tokens', enrollTokenListSchema),
      );
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(enrollTokens, null, 2)}\n`
          : `${enrollTokens.length === 0 ? 'no enrollment tokens' : enrollTokensTable(enrollTokens)}\n`,
      );
    });
  addAdminFlags(command.command('revoke <id>'))
    .description('Revoke an enrollment token by id.')
    .action(async (id: string, flags: AdminFlags) => {
      const revoked = await withFleet(flags, { command: 'edgefleet enroll-token revoke', writes: true }, (api) =>
        api.post(`/v1/enroll-tokens/${encodeURIComponent(id)}/revoke`, {}, enrollTokenViewSchema),
      );
      process.stdout.write(`enrollment token ${revoked.id} revoked\n`);
    });
  return command;
}
