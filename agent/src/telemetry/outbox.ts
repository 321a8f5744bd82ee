/**
 * The durable telemetry outbox [EF-PROTO 8.2]: append-only JSONL segment files on disk plus a
 * small head file. Everything the agent reports goes in here first and leaves only once it
 * was acknowledged (by the server, or by the broker when the caller chose broker delivery),
 * so windows survive outages and agent restarts and go out in order.
 * Bounded by entries and bytes: when full, the oldest are dropped and counted. Memory holds
 * only the segment index and at most one segment's entries, never the backlog.
 *
 * Writes are synchronous on purpose: an append is one small line every few seconds, and a
 * synchronous append keeps file order equal to call order without a write queue.
 */
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { AnyMessage } from '@edgefleet/shared/device';

export type OutboxChannel = 'telemetry' | 'events';

export interface OutboxEntry {
  /** Outbox position: contiguous, increasing, never reused. */
  readonly id: number;
  readonly channel: OutboxChannel;
  readonly message: AnyMessage;
}

export interface OutboxOptions {
  /** Directory of the segment files (created if missing). */
  readonly dir: string;
  /** Most entries kept; beyond it the oldest are dropped. Default 8640 (a day of 10 s windows). */
  readonly maxEntries?: number;
  /** Most bytes of segment files kept; beyond it the oldest segments are dropped. Default 16 MiB. */
  readonly maxBytes?: number;
  /** Entries per segment file. Default 256. */
  readonly segmentEntries?: number;
}

export interface Outbox {
  /**
   * Appends to the segment file before returning (the OS has it: a crashed agent loses nothing,
   * but there is no fsync, so a power cut may lose the last lines); returns the entry's id.
   * May drop the oldest entries to stay in bounds.
   */
  append(channel: OutboxChannel, message: AnyMessage): number;
  /** Up to `max` oldest entries with id ≥ `fromId` (default: all), oldest first, without removing them. */
  peek(max: number, fromId?: number): OutboxEntry[];
  /** Removes every entry with id ≤ `id` (they were delivered). */
  ack(id: number): void;
  /** Id of the oldest entry still held (the next id to be appended when none is). */
  headId(): number;
  pending(): number;
  /** Entries dropped because the bound was hit, since the outbox directory was created. */
  droppedTotal(): number;
  /** Bytes of segment files on disk. */
  bytes(): number;
}

interface Segment {
  readonly firstId: number;
  lastId: number;
  bytes: number;
  readonly file: string;
}

interface HeadState {
  head: number;
  droppedTotal: number;
}

const HEAD_FILE = 'head.json';
const segmentName = (firstId: number): string => `seg-${String(firstId).padStart(16, '0')}.jsonl`;

function parseLine(line: string): OutboxEntry | null {
  try {
    const raw = JSON.parse(line) as { id?: unknown; c?: unknown; m?: unknown };
    if (
      typeof raw.id !== 'number' ||
      (raw.c !== 'telemetry' && raw.c !== 'events') ||
      typeof raw.m !== 'object' ||
      raw.m === null
    )
      return null;
    // Not decoded here: the transport publishes every entry through the link, which checks it with
    // its type's schema, so an entry another agent version left is counted as unpublishable and
    // logged once instead of vanishing like a torn line (test: telemetry-outage).
    return { id: raw.id, channel: raw.c, message: raw.m as AnyMessage };
  } catch {
    return null; // a torn last line after a crash
  }
}

function readSegment(file: string): OutboxEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(parseLine)
    .filter((e): e is OutboxEntry => e !== null);
}

function readHead(dir: string): HeadState | null {
  try {
    const raw = JSON.parse(readFileSync(join(dir, HEAD_FILE), 'utf8')) as Partial<HeadState>;
    if (Number.isSafeInteger(raw.head) && Number.isSafeInteger(raw.droppedTotal))
      return { head: raw.head as number, droppedTotal: raw.droppedTotal as number };
  } catch {
    /* missing or torn: rebuilt from the segments */
  }
  return null;
}

/** Opens (or creates) the outbox in `dir`, recovering what an earlier process left. */
export function openOutbox(options: OutboxOptions): Outbox {
  const { dir } = options;
  const maxEntries = options.maxEntries ?? 8640;
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  const segmentEntries = options.segmentEntries ?? 256;
  if (maxEntries < 1 || segmentEntries < 1 || maxBytes < 1) throw new RangeError('outbox bounds must be positive');
  mkdirSync(dir, { recursive: true });

  const segments: Segment[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => /^seg-\d{16}\.jsonl$/.test(n))
    .sort()) {
    const file = join(dir, name);
    const entries = readSegment(file);
    const last = entries.at(-1);
    if (!last) {
      unlinkSync(file);
      continue;
    }
    // A crash mid-append leaves a torn last line; rewrite the file so the next append starts on a fresh line.
    if (!readFileSync(file, 'utf8').endsWith('\n'))
      writeFileSync(file, entries.map((e) => `${JSON.stringify({ id: e.id, c: e.channel, m: e.message })}\n`).join(''));
    segments.push({ firstId: Number(name.slice(4, 20)), lastId: last.id, bytes: statSync(file).size, file });
  }
  const state: HeadState = readHead(dir) ?? { head: segments[0]?.firstId ?? 0, droppedTotal: 0 };
  let nextId = Math.max(state.head, (segments.at(-1)?.lastId ?? -1) + 1);
  // One parsed segment at a time: the one holding the head.
  let cache: { readonly firstId: number; readonly entries: OutboxEntry[] } | null = null;

  function persistHead(): void {
    const tmp = join(dir, `${HEAD_FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, join(dir, HEAD_FILE));
  }

  /** Deletes segments wholly before the head. */
  function prune(): void {
    while (segments.length > 0 && (segments[0] as Segment).lastId < state.head) {
      const seg = segments.shift() as Segment;
      try {
        unlinkSync(seg.file);
      } catch {
        /* already gone */
      }
      if (cache?.firstId === seg.firstId) cache = null;
    }
  }

  const pending = (): number => nextId - state.head;
  const totalBytes = (): number => segments.reduce((sum, s) => sum + s.bytes, 0);

  function enforceBounds(): void {
    let dropped = 0;
    // Bytes first, by whole segments (only deleting a file frees disk); never the segment being written.
    while (segments.length > 1 && totalBytes() > maxBytes) {
      const seg = segments[0] as Segment;
      const newHead = seg.lastId + 1;
      dropped += newHead - Math.max(state.head, seg.firstId);
      state.head = newHead;
      prune();
    }
    if (pending() > maxEntries) {
      dropped += pending() - maxEntries;
      state.head = nextId - maxEntries;
      prune();
    }
    if (dropped > 0) {
      state.droppedTotal += dropped;
      persistHead();
    }
  }

  function append(channel: OutboxChannel, message: AnyMessage): number {
    const id = nextId;
    const line = `${JSON.stringify({ id, c: channel, m: message })}\n`;
    let tail = segments.at(-1);
    const fresh = !tail || tail.lastId - tail.firstId + 1 >= segmentEntries;
    if (!tail || fresh) {
      tail = { firstId: id, lastId: id - 1, bytes: 0, file: join(dir, segmentName(id)) };
      segments.push(tail);
    }
    try {
      appendFileSync(tail.file, line);
    } catch (err: unknown) {
      // A full disk can take part of the line: cut it off, or the next append would fuse with
      // it into one unreadable line and lose a good entry too. The caller hears the error.
      undoAppend(tail, fresh);
      throw err;
    }
    tail.lastId = id;
    tail.bytes += Buffer.byteLength(line);
    if (cache?.firstId === tail.firstId) cache.entries.push({ id, channel, message });
    nextId = id + 1;
    enforceBounds();
    return id;
  }

  /** Puts the tail segment back as it was before a failed append (a fresh one is removed). */
  function undoAppend(tail: Segment, fresh: boolean): void {
    try {
      if (fresh) {
        segments.pop();
        unlinkSync(tail.file);
      } else truncateSync(tail.file, tail.bytes);
    } catch {
      /* nothing was written, or the file is gone: nothing to undo */
    }
  }

  function peek(max: number, fromId = state.head): OutboxEntry[] {
    const from = Math.max(fromId, state.head);
    const out: OutboxEntry[] = [];
    for (const seg of segments) {
      if (out.length >= max) break;
      if (seg.lastId < from) continue;
      if (cache?.firstId !== seg.firstId) cache = { firstId: seg.firstId, entries: readSegment(seg.file) };
      for (const entry of cache.entries) {
        if (entry.id >= from && out.length < max) out.push(entry);
      }
    }
    return out;
  }

  function ack(id: number): void {
    if (id < state.head) return;
    state.head = Math.min(id + 1, nextId);
    prune();
    persistHead();
  }

  return Object.freeze({
    append,
    peek,
    ack,
    headId: () => state.head,
    pending,
    droppedTotal: () => state.droppedTotal,
    bytes: totalBytes,
  });
}
