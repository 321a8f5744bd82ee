/**
 * Node flags the agent is meant to run with (the bundle's launcher and its systemd unit pass
 * them; `npm run bench:agent` measures with them and without). Both trade throughput nobody
 * uses on a device for resident memory (docs/design-notes.md has the figures):
 * - `--max-semi-space-size=1` caps V8's young generation at 1 MB per semi-space instead of up
 *   to 16: an agent allocates little per request (~10 MB less idle and serving).
 * - `--v8-pool-size=1` gives V8 one background thread (concurrent GC, off-thread compiles)
 *   instead of one per core up to 4: each thread costs its stack and a malloc arena
 *   (~5–7 MB less).
 */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=1', '--v8-pool-size=1']);
