import { Command, InvalidArgumentError } from 'commander';
import { createAuthService, loadServerConfig, openStore } from '@edgefleet/server';
import { tokenScopeSchema, type TokenScope, type TokenView } from '@edgefleet/shared';
import { formatTable } from './devices.js';

function scope(value: string): TokenScope {
  const parsed = tokenScopeSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError('expected read or admin');
  return parsed.data;
}

function withService<T>(dataDir: string | undefined, fn: (service: ReturnType<typeof createAuthService>) => T): T {
  const config = loadServerConfig({ env: process.env, flags: { dataDir } });
  const store = openStore({ dataDir: config.dataDir });
  try {
    return fn(createAuthService({ repo: store.auth, now: Date.now }));
  } finally {
    store.close();
  }
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));

export function tokensTable(tokens: readonly TokenView[]): string {
  return formatTable(
    ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED', 'REVOKED'],
    tokens.map((t) => [t.id, t.name, t.scope, when(t.createdAt), when(t.lastUsedAt), when(t.revokedAt)]),
  );
}

/**
 * `edgefleet token create|list|revoke`: admin tokens, managed on the server host directly
 * in the data directory (whoever can read that directory already owns the server).
 */
export function tokenCommand(): Command {
  const command = new Command('token').description(
    'Admin API tokens, managed on the server host against its data directory (stored hashed; shown once).',
  );
  command
    .command('create')
    .description('Create an admin token and print it (the only time it is shown).')
    .option('--scope <scope>', 'read (GET routes) or admin (everything)', scope, 'admin' as TokenScope)
    .option('--name <name>', 'what the token is for', 'cli')
    .option('--data-dir <dir>', 'server data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--json', 'print the created token as JSON')
    .action((flags: { scope: TokenScope; name: string; dataDir?: string; json?: boolean }) => {
      const created = withService(flags.dataDir, (auth) => auth.createAdminToken(flags.name, flags.scope));
      if (flags.json) return void process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `token ${created.id} (${created.scope}) created; it is not shown again. Use it as --token or EDGEFLEET_TOKEN.\n`,
      );
    });
  command
    .command('list')
    .description('List admin tokens (never the tokens themselves).')
    .option('--data-dir <dir>', 'server data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--json', 'print JSON')
    .action((flags: { dataDir?: string; json?: boolean }) => {
      const tokens = withService(flags.dataDir, (auth) => auth.listAdminTokens());
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(tokens, null, 2)}\n`
          : `${tokens.length === 0 ? 'no admin tokens yet; create one with `edgefleet token create`' : tokensTable(tokens)}\n`,
      );
    });
  command
    .command('revoke <id>')
    .description('Revoke an admin token by id (see `edgefleet token list`).')
    .option('--data-dir <dir>', 'server data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .action((id: string, flags: { dataDir?: string }) => {
      const revoked = withService(flags.dataDir, (auth) => auth.revokeAdminToken(id));
      process.stdout.write(`token ${revoked.id} revoked\n`);
    });
  return command;
}
