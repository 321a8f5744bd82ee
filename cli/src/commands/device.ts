import { Command } from 'commander';
import type { DeviceView } from '@edgefleet/shared';
import { addApiFlags, apiClientFromFlags } from '../api-client.js';
import { formatAge, formatTable } from './devices.js';

type ApiFlags = { api?: string; token?: string };

/** `edgefleet device show|revoke ID` through the admin API. */
export function deviceCommand(): Command {
  const command = new Command('device').description(
    'One device through the admin API: show it, or revoke its credential.',
  );
  addApiFlags(command.command('show <id>'))
    .description('Show a device: state, class, capabilities, current model, credential.')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const d = await apiClientFromFlags(flags).get<DeviceView>(`/v1/devices/${encodeURIComponent(id)}`);
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
  addApiFlags(command.command('revoke <id>'))
    .description('Revoke a device: it is disconnected and refused until enrolled again.')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const result = await apiClientFromFlags(flags).post<{ id: string; disconnected: boolean }>(
        `/v1/devices/${encodeURIComponent(id)}/revoke`,
      );
      if (flags.json) return void process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(
        `device ${result.id} revoked${result.disconnected ? ' and disconnected' : ' (it was not connected)'}\n`,
      );
    });
  return command;
}
