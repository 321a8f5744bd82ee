import { Command } from 'commander';
import type { StoredDecision } from '@edgefleet/server/control/index';
import { decisionListSchema } from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { usageError } from '../usage.js';
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

/** `edgefleet decisions CLASS`: the control loop's decision log of a class. */
export function decisionsCommand(): Command {
  return addAdminFlags(new Command('decisions'))
    .description(
      "Show the control loop's decisions for a device class (what it saw, why, and what it did), oldest first, " +
        'through the admin API (see --data-dir and --api).',
    )
    .argument('<class>', 'device class name')
    .option('--limit <n>', 'newest N decisions (default 100)', '100')
    .option(
      '--json',
      'print JSON (an array of decisions with snapshot summaries and action outcomes) instead of a table',
    )
    .action(async (deviceClass: string, flags: AdminFlags & { limit: string; json?: boolean }) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw usageError(`--limit must be a whole number of at least 1, got ${flags.limit}`);
      const path = `/v1/classes/${encodeURIComponent(deviceClass)}/decisions?limit=${limit}`;
      const { decisions } = await withFleet(flags, { command: 'edgefleet decisions', writes: false }, (api) =>
        api.get(path, decisionListSchema),
      );
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(decisions, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        decisions.length === 0
          ? `no decisions for class ${deviceClass}: the loop stores one only when a class leaves (or returns to) ` +
              `its budget\n`
          : `${decisionsTable(decisions)}\n`,
      );
    });
}
