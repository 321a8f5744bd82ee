/**
 * Temporary files of atomic writes. Every file the server writes into its data directory goes
 * to `.<name>.tmp` first and is renamed into place, so a reader never sees half a file; a
 * process killed between the two leaves the temp file behind, which the next start deletes.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Deletes the temporary files in `dir` (names `.….tmp`), if it exists. Safe at open only: one
 * process owns a data directory (runtime-file.ts), so no write is in flight. Returns how many went.
 */
export function sweepTemporaryFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  let swept = 0;
  for (const name of readdirSync(dir))
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      rmSync(join(dir, name), { force: true });
      swept += 1;
    }
  return swept;
}
