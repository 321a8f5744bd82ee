import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgefleetError } from '@edgefleet/shared';
import { z } from 'zod';

/**
 * Evaluated candidates on disk, one JSON object per line, so a search that crashes (or is
 * stopped) resumes where it was: the search replays its seeded decisions and takes every
 * candidate already in the file instead of evaluating it again. The first line names the search
 * (seed, space, objectives); resuming a different search into the same file is refused. A line
 * cut short by a crash mid-write is dropped (and the file truncated to the last whole line).
 */
export const searchHeaderSchema = z.strictObject({
  type: z.literal('search'),
  v: z.literal(1),
  seed: z.number().int(),
  /** A description of the gene space and the evaluation settings that changes when they do. */
  space: z.string(),
  objectives: z.array(z.string()),
});
export type SearchHeader = z.infer<typeof searchHeaderSchema>;

export const candidateRecordSchema = z.strictObject({
  type: z.literal('candidate'),
  key: z.string(),
  genome: z.array(z.number().int().nonnegative()),
  objectives: z.array(z.number().nullable()),
  violation: z.number().nullable(),
  /** Why the candidate could not be built or scored (it then ranks last). */
  failed: z.string().optional(),
  /** What the evaluator measured, for reports (accuracy, bytes, latency…). */
  metrics: z.record(z.string(), z.unknown()),
  seconds: z.number().nonnegative(),
  /** Rejected from predictions alone, nothing built (does not count as an evaluation). */
  screened: z.literal(true).optional(),
});
export type CandidateRecord = z.infer<typeof candidateRecordSchema>;

/** An open store. */
export interface CandidateStore {
  readonly path: string;
  /** Records found in the file when it was opened, by genome key. */
  readonly previous: ReadonlyMap<string, CandidateRecord>;
  /** Lines dropped when opening (a truncated last line). */
  readonly dropped: number;
  append(record: CandidateRecord): void;
}

const sameHeader = (a: SearchHeader, b: SearchHeader): boolean => JSON.stringify(a) === JSON.stringify(b);

function refuse(path: string, why: string): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_SEARCH_STORE',
    `cannot resume the search from ${path}: ${why}. Give another output directory, or delete the file to start over`,
    { path },
  );
}

/** Open (or create) the store at `path` for the search described by `header`. */
export function openCandidateStore(path: string, header: SearchHeader): CandidateStore {
  const previous = new Map<string, CandidateRecord>();
  let dropped = 0;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(header)}\n`);
  } else {
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    const complete = text.endsWith('\n') ? lines.slice(0, -1) : lines.slice(0, -1);
    if (!text.endsWith('\n')) {
      dropped = 1;
      truncateSync(path, Buffer.byteLength(complete.map((l) => `${l}\n`).join('')));
    }
    const first = complete[0];
    let parsedHeader: SearchHeader | undefined;
    try {
      parsedHeader = searchHeaderSchema.parse(JSON.parse(first ?? ''));
    } catch {
      throw refuse(path, 'its first line is not a search header');
    }
    if (!sameHeader(parsedHeader, header))
      throw refuse(path, `it holds a different search (seed ${parsedHeader.seed}, space ${parsedHeader.space})`);
    complete.slice(1).forEach((line, i) => {
      let record: CandidateRecord;
      try {
        record = candidateRecordSchema.parse(JSON.parse(line));
      } catch {
        throw refuse(path, `line ${i + 2} is not a candidate record`);
      }
      previous.set(record.key, record);
    });
  }
  return {
    path,
    previous,
    dropped,
    append(record) {
      // One synchronous append per candidate: a crash loses at most the line being written.
      appendFileSync(path, `${JSON.stringify(record)}\n`);
    },
  };
}
