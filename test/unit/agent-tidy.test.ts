/**
 * The agent's disk bound decided on listings (issue 18, finding 8): which artifacts and
 * partial downloads `planTidy` deletes, by pointer, by byte budget (newest first) and by age.
 */
import t from 'tap';
import { planTidy, type StoredFile } from '@edgefleet/agent/artifacts/tidy';

const sha = (c: string): string => c.repeat(64);
const DAY = 24 * 3_600_000;
const now = 10 * DAY;

t.test('artifacts not pointed at go; partials stay newest first within bytes and age', async (t) => {
  const files: StoredFile[] = [
    { path: `artifacts/${sha('a')}.onnx`, bytes: 100, mtimeMs: now },
    { path: `artifacts/${sha('b')}.onnx`, bytes: 100, mtimeMs: now },
    { path: `downloads/${sha('c')}.part`, bytes: 60, mtimeMs: now - 1000 },
    { path: `downloads/${sha('c')}.chunks.json`, bytes: 5, mtimeMs: now - 1000 },
    { path: `downloads/${sha('d')}.part`, bytes: 60, mtimeMs: now - 2000 },
    { path: `downloads/${sha('e')}.part`, bytes: 1, mtimeMs: now - 2 * DAY },
    { path: `downloads/${sha('f')}.part.0a1b.tmp`, bytes: 1, mtimeMs: now },
    { path: 'downloads/notes.txt', bytes: 1, mtimeMs: 0 },
  ];
  const plan = planTidy(files, new Set([sha('a')]), { maxPartialBytes: 100, maxPartialAgeMs: DAY }, now);
  t.same(
    [...plan.delete].sort(),
    [`artifacts/${sha('b')}.onnx`, `downloads/${sha('d')}.part`, `downloads/${sha('e')}.part`].sort(),
    'b is not pointed at; d does not fit next to the newer c; e is older than a day',
  );
  t.same(
    { bytes: plan.bytes, artifacts: plan.artifacts, partials: plan.partials },
    { bytes: 161, artifacts: 1, partials: 2 },
  );
  const none = planTidy(files, new Set([sha('a'), sha('d')]), { maxPartialBytes: 0, maxPartialAgeMs: DAY }, now);
  t.notOk(none.delete.includes(`downloads/${sha('d')}.part`), 'a kept sha keeps its partial whatever the bound');
  t.ok(none.delete.includes(`downloads/${sha('f')}.part.0a1b.tmp`), 'temp files of a write are partials too');
  t.notOk(none.delete.includes('downloads/notes.txt'), 'files edgefleet did not name are left alone');
});
