// Preloaded into an agent process by `npm run bench:agent` (`node --import`): on SIGUSR2 it
// writes V8's view of the process's memory and its threads to $EF_HEAP_PROBE_FILE as JSON
// (bench/agent-memory.ts reads it). Plain JavaScript with node: imports only, so it adds
// nothing the agent would not load anyway.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

const file = process.env.EF_HEAP_PROBE_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    const usage = process.memoryUsage();
    const v8 = getHeapStatistics();
    const threads = readdirSync('/proc/self/task').map((tid) =>
      readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(),
    );
    writeFileSync(
      file,
      JSON.stringify({
        ...usage,
        v8PhysicalBytes: v8.total_physical_size,
        v8MallocedBytes: v8.malloced_memory,
        threads,
        onnxruntimeLoaded: readFileSync('/proc/self/maps', 'utf8').includes('libonnxruntime'),
      }),
    );
  });
}
