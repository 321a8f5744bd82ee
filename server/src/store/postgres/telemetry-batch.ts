/**
 * The fast path of telemetry ingestion on Postgres (issue 20): a batch in a fixed number of
 * round trips instead of ~6 per window. Two replicas at ~5,800 devices stored 18.5 windows/s
 * of 302 offered, each window waiting on its own SELECTs and INSERTs. Here a batch reads the
 * epochs and counters of all its devices at once, decides every window in memory by the rules
 * of ./telemetry-ingest.ts, and writes windows, epochs, gaps, counters and rollups as one
 * multi-row statement each.
 *
 * Windows in order (a seq above the device's highest) are what a fleet sends almost always.
 * Anything else (a redelivery, a late window that may fill a gap, a breach event, whose
 * duplicate only the unique index knows) is stored by the per-message path, after what was
 * decided before it is written, so the outcome is the same as storing the batch one by one.
 */
import type { Breach, TelemetryWindow } from '@edgefleet/shared';
import { countersAfterWindow, EPOCH_SPAN, ROLLUP_COUNTER_MAX } from '../sqlite/telemetry-ingest.js';
import type { RawDeviceCounters } from '../sqlite/telemetry.js';
import type { BatchItem, BatchOutcome } from '../telemetry.js';
import type { Sql } from './db.js';
import { type Counts, newCounts, ROLLUP_ON_CONFLICT, rollupArgs, storeItem, windowArgs } from './telemetry-ingest.js';

const SAFE = ROLLUP_COUNTER_MAX;
/** Rollup rows already summed over the batch: counters add, saturating (LEAST), as one window at a time does. */
const UPSERT_ROLLUPS = (values: string) => `INSERT INTO telemetry_class_minutes VALUES ${values}
  ${ROLLUP_ON_CONFLICT}`;
const UPSERT_DEVICES = (values: string) => `INSERT INTO telemetry_devices VALUES ${values}
  ON CONFLICT (device_id) DO UPDATE SET class = excluded.class, max_seq = excluded.max_seq,
    windows = excluded.windows, duplicates = excluded.duplicates, dropped_total = excluded.dropped_total,
    last_window_end = excluded.last_window_end, last_received_at = excluded.last_received_at`;

/** `($1, $2, …), (…)` for rows of `width` parameters. */
function placeholders(rows: number, width: number): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r += 1)
    out.push(`(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`);
  return out.join(', ');
}

/** Postgres takes at most 65,535 parameters in one statement. */
const MAX_PARAMS = 65_535;

/** Multi-row statements of as many rows as the parameter limit allows; nothing when there are no rows. */
async function insertRows(sql: Sql, text: (values: string) => string, rows: readonly unknown[][]): Promise<void> {
  if (rows.length === 0) return;
  const width = (rows[0] as unknown[]).length;
  const per = Math.floor(MAX_PARAMS / width);
  for (let at = 0; at < rows.length; at += per) {
    const part = rows.slice(at, at + per);
    await sql.run(text(placeholders(part.length, width)), part.flat());
  }
}

/** What the batch knows of its devices, read once, updated as windows are decided. */
interface DeviceState {
  epochs: Map<string, number>;
  counters: RawDeviceCounters | null;
}

/** Rows decided but not yet written. */
interface Pending {
  epochs: unknown[][];
  windows: unknown[][];
  gaps: unknown[][];
  dirty: Set<string>;
  rollups: Map<string, unknown[]>;
}

const newPending = (): Pending => ({ epochs: [], windows: [], gaps: [], dirty: new Set(), rollups: new Map() });

async function loadStates(sql: Sql, ids: readonly string[], into: Map<string, DeviceState>): Promise<void> {
  for (const id of ids) into.set(id, { epochs: new Map(), counters: null });
  const epochs = await sql.rows<{ device_id: string; epoch: string; idx: number }>(
    'SELECT device_id, epoch, idx FROM telemetry_epochs WHERE device_id = ANY($1::text[])',
    [ids],
  );
  for (const e of epochs) into.get(e.device_id)?.epochs.set(e.epoch, e.idx);
  const counters = await sql.rows<RawDeviceCounters>(
    'SELECT * FROM telemetry_devices WHERE device_id = ANY($1::text[])',
    [ids],
  );
  for (const c of counters) (into.get(c.device_id) as DeviceState).counters = c;
}

/** Adds one window to its (class, minute) rollup row, summed in the order the windows came. */
function addRollup(rollups: Map<string, unknown[]>, w: TelemetryWindow): void {
  const row = rollupArgs(w);
  const key = `${row[0]}\u0000${row[1]}`;
  const sum = rollups.get(key);
  // Row: class, minute, windows, inferences, p95 sum/n/max, power, energy, accuracy, confidence sums/ns, throttled.
  const [cls, minute, inferences, ...rest] = row;
  if (!sum) {
    rollups.set(key, [cls, minute, 1, Math.min(Number(inferences), SAFE), ...rest]);
    return;
  }
  sum[2] = Number(sum[2]) + 1;
  sum[3] = Math.min(Number(sum[3]) + Number(inferences), SAFE);
  for (let i = 4; i < sum.length; i += 1) {
    const add = rest[i - 4];
    if (i === 6) sum[i] = add === null ? sum[i] : sum[i] === null ? add : Math.max(Number(sum[i]), Number(add));
    else sum[i] = Number(sum[i]) + Number(add);
  }
}

/** The epoch's base in the seq space, registering it (in `pending`) on first sight, as `epochBase` does. */
function epochBaseOf(state: DeviceState, w: TelemetryWindow, receivedAt: number, pending: Pending) {
  const epoch = w.epoch ?? '';
  const known = state.epochs.get(epoch);
  if (known !== undefined) return { base: known * EPOCH_SPAN, restarted: false };
  let last = state.epochs.size === 0 ? null : Math.max(...state.epochs.values());
  if (last === null && epoch !== '' && state.counters) {
    pending.epochs.push([w.deviceId, '', 0, receivedAt]);
    state.epochs.set('', 0);
    last = 0;
  }
  const idx = last === null ? 0 : last + 1;
  pending.epochs.push([w.deviceId, epoch, idx, receivedAt]);
  state.epochs.set(epoch, idx);
  return { base: idx * EPOCH_SPAN, restarted: last !== null };
}

/** Decides an in-order window in memory; false when it needs the per-message path. */
function decideWindow(
  state: DeviceState,
  w: TelemetryWindow,
  receivedAt: number,
  pending: Pending,
  counts: Counts,
): boolean {
  const epochs = new Map(state.epochs);
  const epochRows = pending.epochs.length;
  const { base, restarted } = epochBaseOf(state, w, receivedAt, pending);
  const seq = base + w.seq;
  const before = state.counters;
  if (before && seq <= before.max_seq) {
    // Not in order: undo the epoch registration; the per-message path registers it itself.
    state.epochs = epochs;
    pending.epochs.length = epochRows;
    return false;
  }
  if (restarted) counts.restarts.push({ deviceId: w.deviceId, epoch: w.epoch ?? '', firstSeq: w.seq });
  counts.windows += 1;
  pending.windows.push(windowArgs(w, seq, receivedAt));
  const expected = restarted ? base : (before?.max_seq ?? -1) + 1;
  if (before && seq > expected) {
    pending.gaps.push([w.deviceId, expected, seq - 1, receivedAt]);
    counts.gapsOpened += 1;
  }
  state.counters = countersAfterWindow(before, w, seq, receivedAt);
  pending.dirty.add(w.deviceId);
  addRollup(pending.rollups, w);
  return true;
}

async function writePending(sql: Sql, pending: Pending, states: Map<string, DeviceState>): Promise<void> {
  await insertRows(sql, (v) => `INSERT INTO telemetry_epochs (device_id, epoch, idx, first_seen) VALUES ${v}`, [
    ...pending.epochs,
  ]);
  await insertRows(sql, (v) => `INSERT INTO telemetry_windows VALUES ${v} ON CONFLICT (device_id, seq) DO NOTHING`, [
    ...pending.windows,
  ]);
  await insertRows(
    sql,
    (v) => `INSERT INTO telemetry_gaps (device_id, from_seq, to_seq, detected_at) VALUES ${v}`,
    pending.gaps,
  );
  const devices = [...pending.dirty].map((id) => {
    const c = (states.get(id) as DeviceState).counters as RawDeviceCounters;
    return [
      c.device_id,
      c.class,
      c.max_seq,
      c.windows,
      c.duplicates,
      c.dropped_total,
      c.last_window_end,
      c.last_received_at,
    ];
  });
  await insertRows(sql, UPSERT_DEVICES, devices);
  await insertRows(sql, UPSERT_ROLLUPS, [...pending.rollups.values()]);
}

/** Ingests a batch (its devices already locked) in a fixed number of statements plus one path per odd message. */
export async function ingestBatched(sql: Sql, items: readonly BatchItem[]): Promise<BatchOutcome> {
  const states = new Map<string, DeviceState>();
  await loadStates(sql, [...new Set(items.map((i) => i.message.deviceId))], states);
  const counts = newCounts();
  const storedBreaches: Breach[] = [];
  let pending = newPending();
  for (const item of items) {
    const state = states.get(item.message.deviceId) as DeviceState;
    if (item.kind === 'window' && decideWindow(state, item.message, item.receivedAt, pending, counts)) continue;
    // The per-message path reads the store: write what was decided so far, then re-read this device after it.
    await writePending(sql, pending, states);
    pending = newPending();
    await storeItem(sql, item, counts, storedBreaches);
    await loadStates(sql, [item.message.deviceId], states);
  }
  await writePending(sql, pending, states);
  return { ...counts, breaches: storedBreaches.length, storedBreaches, refused: [] };
}
