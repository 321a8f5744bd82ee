#!/usr/bin/env node
// Entry point of the `edgefleet` command; the code lives in ../dist (built by `npm install`).
import { main } from '../dist/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  },
);
