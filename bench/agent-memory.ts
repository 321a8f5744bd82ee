/**
 * Where an agent process's resident memory goes, for `npm run bench:agent`: /proc/<pid>/smaps
 * split by what maps it (the node binary, onnxruntime's shared library and binding, other
 * shared libraries, glibc's main heap, anonymous memory), and from inside the process (a probe
 * preloaded with `--import`, bench/agent-heap-probe.mjs) V8's own view: the main isolate's
 * heap, memory it allocated outside it, and the threads alive. Anonymous memory that is not
 * V8's heap is native: glibc malloc arenas (onnxruntime's allocations land there), thread
 * stacks, worker isolates.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';

/** Resident kB by what maps it. */
export interface SmapsBreakdown {
  readonly rssKb: number;
  readonly nodeBinaryKb: number;
  readonly onnxruntimeLibKb: number;
  readonly onnxruntimeBindingKb: number;
  readonly otherLibsKb: number;
  readonly otherFilesKb: number;
  /** glibc's brk heap: the main thread's malloc arena. */
  readonly brkHeapKb: number;
  /** Anonymous mappings: V8 heaps, other threads' malloc arenas, thread stacks. */
  readonly anonKb: number;
  /** Of all the above, pages backed by a file and clean (the kernel can drop and re-read them). */
  readonly fileCleanKb: number;
}

function category(path: string): keyof Omit<SmapsBreakdown, 'rssKb' | 'fileCleanKb'> {
  if (path === '' || path.startsWith('[anon') || path === '[stack]' || path.startsWith('[stack:')) return 'anonKb';
  if (path === '[heap]') return 'brkHeapKb';
  if (path.startsWith('[')) return 'otherFilesKb'; // [vdso], [vvar], [vsyscall]
  const name = basename(path);
  if (name.startsWith('libonnxruntime.so')) return 'onnxruntimeLibKb';
  if (name === 'onnxruntime_binding.node') return 'onnxruntimeBindingKb';
  if (name === 'node' || name.startsWith('node-v')) return 'nodeBinaryKb';
  if (/\.so(\.|$)/.test(name) || name.endsWith('.node')) return 'otherLibsKb';
  return 'otherFilesKb';
}

/** Reads /proc/<pid>/smaps and sums resident memory by category. */
export function smapsBreakdown(pid: number): SmapsBreakdown {
  const sums = {
    rssKb: 0,
    nodeBinaryKb: 0,
    onnxruntimeLibKb: 0,
    onnxruntimeBindingKb: 0,
    otherLibsKb: 0,
    otherFilesKb: 0,
    brkHeapKb: 0,
    anonKb: 0,
    fileCleanKb: 0,
  };
  let current: ReturnType<typeof category> = 'anonKb';
  let fileBacked = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    // A mapping header: "start-end perms offset dev inode [path]".
    const header = /^[0-9a-f]+-[0-9a-f]+ \S{4} [0-9a-f]+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      current = category(header[2] ?? '');
      fileBacked = header[1] !== '0';
      continue;
    }
    const field = /^(Rss|Shared_Clean|Private_Clean):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    const kb = Number(field[2]);
    if (field[1] === 'Rss') {
      sums.rssKb += kb;
      sums[current] += kb;
    } else if (fileBacked) sums.fileCleanKb += kb;
  }
  return sums;
}

/** What the heap probe reports from inside the agent (bench/agent-heap-probe.mjs). */
export interface HeapProbe {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** V8's committed physical memory of the main isolate's heap. */
  readonly v8PhysicalBytes: number;
  /** Memory V8 itself malloc'ed (zones, compiler). */
  readonly v8MallocedBytes: number;
  readonly threads: readonly string[];
  readonly onnxruntimeLoaded: boolean;
}

/** Asks the probe in `pid` for a reading (SIGUSR2) and waits for the file it writes. */
export async function readHeapProbe(pid: number, file: string): Promise<HeapProbe | null> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(file); i += 1) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 20));
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as HeapProbe;
}

const mb = (kb: number) => (kb / 1024).toFixed(1);

/** One line per category, in MB, with the probe's V8 figures and threads when there are any. */
export function formatBreakdown(label: string, s: SmapsBreakdown, probe: HeapProbe | null): string {
  const lines = [
    `${label}: RSS ${mb(s.rssKb)} MB (file-backed clean ${mb(s.fileCleanKb)} MB)`,
    `  node binary ${mb(s.nodeBinaryKb)} · libonnxruntime ${mb(s.onnxruntimeLibKb)} · ort binding ` +
      `${mb(s.onnxruntimeBindingKb)}` +
      ` · other libs ${mb(s.otherLibsKb)} · other files ${mb(s.otherFilesKb)}`,
    `  glibc brk heap ${mb(s.brkHeapKb)} · anonymous ${mb(s.anonKb)}`,
  ];
  if (probe) {
    const m = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    const anonBytes = (s.anonKb + s.brkHeapKb) * 1024;
    lines.push(
      `  V8 main heap ${m(probe.v8PhysicalBytes)} (used ${m(probe.heapUsed)}) · V8 malloced ` +
        `${m(probe.v8MallocedBytes)}` +
        ` · external ${m(probe.external)} (array buffers ${m(probe.arrayBuffers)})` +
        ` · native rest (heap+anon − V8 heap) ${m(anonBytes - probe.v8PhysicalBytes)}`,
      `  threads ${probe.threads.length}: ${probe.threads.join(', ')} · onnxruntime loaded: ${probe.onnxruntimeLoaded}`,
    );
  }
  return lines.join('\n');
}
