/**
 * Just enough of the tar format (POSIX ustar, what `npm pack` writes) to take named files out of
 * a gzipped npm tarball in memory: 512-byte headers, name (+ ustar prefix), octal size, regular
 * files only. No dependency and no shelling out to `tar`.
 */
import { gunzipSync } from 'node:zlib';

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

/** The regular files of a .tgz whose paths are in `wanted`, as path → bytes. */
export function extractFromTgz(tgz: Uint8Array, wanted: ReadonlySet<string>): Map<string, Uint8Array> {
  const tar = gunzipSync(tgz);
  const found = new Map<string, Uint8Array>();
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const name = field(header, 0, 100);
    const prefix = field(header, 345, 155);
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`corrupt tar header at byte ${at} (${path})`);
    const body = at + 512;
    if ((type === '0' || type === '\0') && wanted.has(path)) found.set(path, tar.subarray(body, body + size));
    at = body + Math.ceil(size / 512) * 512;
  }
  return found;
}
