#!/usr/bin/env node
// Device-side entry point (`edgefleet-agent`); needs only @edgefleet/agent and its own
// dependencies. The code lives in ../dist (built by `npm install` / `tsc -b`, and by `prepack`).
import { runAgentCli } from '../dist/cli.js';

runAgentCli(process.argv.slice(2), process.env, { hideArguments: true }).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  },
);
