import { Command, InvalidArgumentError } from 'commander';
import {
  tokenCreatedSchema,
  tokenListSchema,
  tokenScopeSchema,
  tokenViewSchema,
  type TokenScope,
  type TokenView,
} from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { formatTable } from './devices.js';

function scope(value: string): TokenScope {
  const parsed = tokenScopeSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError('expected read or admin');
  return parsed.data;
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));

const NO_TOKENS_YET = 'no admin tokens yet; create one with `edgefleet token create`';

export function tokensTable(tokens: readonly TokenView[]): string {
  return formatTable(
    ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED', 'REVOKED'],
    tokens.map((t) => [t.id, t.name, t.scope, when(t.createdAt), when(t.lastUsedAt), when(t.revokedAt)]),
  );
}

/**
 * `edgefleet token create|list|revoke`: admin tokens through the admin API. On the server host
 * `--data-dir` needs no token (the CLI uses the server's process-local one), which is how the
 * first admin token is made.
 */
export function tokenCommand(): Command {
  const command = new Command('token').description(
    'Admin API tokens (stored hashed; shown once). On the server host --data-dir needs no token of its own.',
  );
  addAdminFlags(command.command('create'))
    .description('Create an admin token and print it (the only time it is shown).')
    .option('--scope <scope>', 'read (GET routes) or admin (everything)', scope, 'admin' as TokenScope)
    .option('--name <name>', 'what the token is for', 'cli')
    .option('--json', 'print the created token as JSON')
    .action(async (flags: AdminFlags & { scope: TokenScope; name: string; json?: boolean }) => {
      const created = await withFleet(flags, { command: 'edgefleet token create', writes: true }, (api) =>
        api.post('/v1/tokens', { name: flags.name, scope: flags.scope }, tokenCreatedSchema),
      );
      if (flags.json) return void process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `token ${created.id} (${created.scope}) created; it is not shown again. Use it as --token or ` +
          `EDGEFLEET_TOKEN.\n`,
      );
    });
  addAdminFlags(command.command('list'))
    .description('List admin tokens (never the tokens themselves).')
    .option('--json', 'print JSON')
    .action(async (flags: AdminFlags & { json?: boolean }) => {
      const { tokens } = await withFleet(flags, { command: 'edgefleet token list', writes: false }, (api) =>
        api.get('/v1/tokens', tokenListSchema),
      );
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(tokens, null, 2)}\n`
          : `${tokens.length === 0 ? NO_TOKENS_YET : tokensTable(tokens)}\n`,
      );
    });
  addAdminFlags(command.command('revoke <id>'))
    .description('Revoke an admin token by id (see `edgefleet token list`).')
    .action(async (id: string, flags: AdminFlags) => {
      const revoked = await withFleet(flags, { command: 'edgefleet token revoke', writes: true }, (api) =>
        api.post(`/v1/tokens/${encodeURIComponent(id)}/revoke`, {}, tokenViewSchema),
      );
      process.stdout.write(`token ${revoked.id} revoked\n`);
    });
  return command;
}
