import { Command } from 'commander';
import { loadServerConfig } from '@edgefleet/server';
import { listDecisions, type StoredDecision } from '@edgefleet/server/control/index';
import { openStore } from '@edgefleet/server/store/sqlite/open';
import { addApiFlags, apiClientFromFlags } from '../api-client.js';
import { formatTable } from './devices.js';

/** One line per stored decision: when, what, on which budgets, and why. */
export function decisionsTable(
  decisions: readonly Pick<StoredDecision, 'at' | 'kind' | 'budgets' | 'actions' | 'reason'>[],
): string {
  const rows = decisions.map((d) => {
    const action = d.actions
      .map((a) => (a.kind === 'rollout' ? `rollout ${a.recipe}${a.cohort ? ` (${a.cohort})` : ''}` : a.kind))
      .join(', ');
    return [
      new Date(d.at).toISOString().slice(0, 19).replace('T', ' '),
      d.kind,
      d.budgets.join(',') || '-',
      action || '-',
      d.reason,
    ];
  });
  return formatTable(['AT', 'KIND', 'BUDGETS', 'ACTION', 'REASON'], rows);
}

/** `edgefleet decisions CLASS`: the control loop's decision log of a class, read-only. */
export function decisionsCommand(): Command {
  return addApiFlags(new Command('decisions'))
    .description(
      "Show the control loop's decisions for a device class (what it saw, why, and what it did), oldest first, from the data directory (or the admin API with --api).",
    )
    .argument('<class>', 'device class name')
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--limit <n>', 'newest N decisions (default 100)', '100')
    .option('--json', 'print JSON (an array of decisions with snapshot summary and action outcomes) instead of a table')
    .action(
      async (
        deviceClass: string,
        flags: { dataDir?: string; limit: string; json?: boolean; api?: string; token?: string },
      ) => {
        const limit = Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new Error(`--limit must be a whole number of at least 1, got ${flags.limit}`);
        if (flags.api !== undefined) {
          const { decisions } = await apiClientFromFlags(flags).get<{ decisions: StoredDecision[] }>(
            `/v1/classes/${encodeURIComponent(deviceClass)}/decisions?limit=${limit}`,
          );
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(decisions, null, 2)}\n`);
            return;
          }
          process.stdout.write(
            decisions.length === 0
              ? `no decisions for class ${deviceClass}: the loop stores one only when a class leaves (or returns to) its budget\n`
              : `${decisionsTable(decisions)}\n`,
          );
          return;
        }
        const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
        const store = openStore({ dataDir: config.dataDir });
        try {
          const decisions = listDecisions(store, { deviceClass, limit });
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(decisions, null, 2)}\n`);
            return;
          }
          if (decisions.length === 0) {
            process.stdout.write(
              `no decisions for class ${deviceClass} in ${config.dataDir}: the loop stores one only when a class leaves (or returns to) its budget\n`,
            );
            return;
          }
          process.stdout.write(`${decisionsTable(decisions)}\n`);
        } finally {
          store.close();
        }
      },
    );
}
