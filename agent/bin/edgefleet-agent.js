#!/usr/bin/env node
// Device-side entry point (`edgefleet-agent`); needs only @edgefleet/agent and its own
// dependencies. It runs the one-file bundle in ../dist/bundle (built by `npm run build` and by
// `prepack`, agent/scripts/bundle.mjs): the same code as ../dist, in less memory. Without the
// bundle (only `tsc -b` has run) it runs ../dist as is and says so.
const bundle = new URL('../dist/bundle/edgefleet-agent.js', import.meta.url);
const { existsSync } = await import('node:fs');
let cli;
if (existsSync(bundle)) cli = await import(bundle.href);
else {
  process.stderr.write('edgefleet-agent: dist/bundle is missing (run `npm run build`); running the unbundled build\n');
  cli = await import('../dist/cli.js');
}

cli.runAgentCli(process.argv.slice(2), process.env, { hideArguments: true }).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  },
);
