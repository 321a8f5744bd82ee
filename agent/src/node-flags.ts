/**
 * Node flags the agent is meant to run with (the bundle's launcher and its systemd unit pass
 * them; `npm run bench:agent` measures with them). `--max-semi-space-size=1` caps V8's young
 * generation at 1 MB per semi-space instead of up to 16: an agent allocates little per
 * request, and the cap saved ~10 MB of resident memory idle and serving on the measured host
 * (docs/design-notes.md) for no measurable latency.
 */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=1']);
