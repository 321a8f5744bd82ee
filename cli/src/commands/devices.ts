import { Command } from 'commander';
import { deviceListSchema, type DeviceView } from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';

/** "12 s ago", "3 min ago", "2 h ago", or the date for anything older than a day. */
export function formatAge(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return new Date(thenMs).toISOString().slice(0, 16).replace('T', ' ');
}

/** Left-aligned text table; the header is underlined with dashes. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function devicesTable(devices: readonly DeviceView[], nowMs: number): string {
  const rows = devices.map((d) => [
    d.id,
    d.deviceClass ?? '-',
    d.state,
    d.lastSeen === null ? '-' : formatAge(d.lastSeen, nowMs),
    d.currentModel ? d.currentModel.slice(0, 12) : '-',
  ]);
  return formatTable(['ID', 'CLASS', 'STATE', 'LAST SEEN', 'MODEL'], rows);
}

/** `edgefleet devices`: the registry as a table (`GET /v1/devices`). */
export function devicesCommand(): Command {
  return addAdminFlags(new Command('devices'))
    .description(
      'List devices (id, class, state, last seen, model): registered by hello, or holding a credential. ' +
        'Through the admin API (see --data-dir and --api).',
    )
    .option('--json', 'print JSON (one array of device records) instead of a table')
    .action((flags: AdminFlags & { json?: boolean }) =>
      withFleet(flags, { command: 'edgefleet devices', writes: false }, async (api, fleet) => {
        const { devices } = await api.get('/v1/devices', deviceListSchema);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
          return;
        }
        if (devices.length === 0) {
          process.stdout.write(
            `no devices registered yet (${fleet.via}); start agents (\`edgefleet agent\`) or a farm ` +
              "(`edgefleet farm`) against the server's broker\n",
          );
          return;
        }
        const online = devices.filter((d) => d.state === 'online').length;
        process.stdout.write(`${devicesTable(devices, Date.now())}\n\n${devices.length} devices, ${online} online\n`);
      }),
    );
}
