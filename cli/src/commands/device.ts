import { Command } from 'commander';
import { deviceRevokedSchema, deviceViewSchema } from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { formatAge, formatTable } from './devices.js';

/** `edgefleet device show|revoke ID`. */
export function deviceCommand(): Command {
  const command = new Command('device').description(
    'One device: show it, or revoke its credential (through the admin API; see --data-dir and --api).',
  );
  addAdminFlags(command.command('show <id>'))
    .description('Show a device: state, class, capabilities, current model, credential.')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: AdminFlags & { json?: boolean }) => {
      const d = await withFleet(flags, { command: 'edgefleet device show', writes: false }, (api) =>
        api.get(`/v1/devices/${encodeURIComponent(id)}`, deviceViewSchema),
      );
      if (flags.json) return void process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      const rows = [
        ['id', d.id],
        ['class', d.deviceClass ?? '-'],
        ['state', `${d.state}${d.stateReason ? ` (${d.stateReason})` : ''}`],
        ['last seen', d.lastSeen === null ? '-' : formatAge(d.lastSeen, Date.now())],
        ['model', d.currentModel ?? '-'],
        ['cpu', d.capabilities ? `${d.capabilities.cpuModel}, ${d.capabilities.cores} cores` : '-'],
        ['precisions', d.capabilities?.precisions.join(', ') ?? '-'],
        ['credential', d.credential.status],
      ];
      process.stdout.write(`${formatTable(['FIELD', 'VALUE'], rows)}\n`);
    });
  addAdminFlags(command.command('revoke <id>'))
    .description('Revoke a device: it is disconnected and refused until enrolled again.')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: AdminFlags & { json?: boolean }) => {
      const result = await withFleet(flags, { command: 'edgefleet device revoke', writes: true }, (api) =>
        api.post(`/v1/devices/${encodeURIComponent(id)}/revoke`, {}, deviceRevokedSchema),
      );
      if (flags.json) return void process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(
        `device ${result.id} revoked${result.disconnected ? ' and disconnected' : ' (it was not connected)'}\n`,
      );
    });
  return command;
}
