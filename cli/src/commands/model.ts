import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { EdgefleetError } from '@edgefleet/shared';
import { loadServerConfig } from '@edgefleet/server';
import { openStore } from '@edgefleet/server/store/db';
import { addModel, listModels } from '@edgefleet/server/plan/index';
import { formatTable } from './devices.js';

function parseShapes(values: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(v);
    if (!m?.[1] || !m[2]) throw new EdgefleetError('EF_ERR_DATA_SOURCE', `--shape "${v}" is not NAME=D1,D2,…; e.g. --shape x=1,3,48,192`, { value: v });
    out[m[1]] = m[2].split(',').map(Number);
  }
  return out;
}

/** `edgefleet model add|list`: the content-addressed model store in the data directory. */
export function modelCommand(): Command {
  const cmd = new Command('model').description('Store ONNX models (content-addressed by sha256) with the data they are evaluated on.');
  cmd.command('add')
    .description('Add a model; adding the same bytes again changes nothing.')
    .argument('<file>', 'path to the .onnx file')
    .requiredOption('--name <name>', 'a name to plan it by')
    .option('--eval <spec>', 'evaluation data: mnist, random:N or a sample directory', 'mnist')
    .option('--shape <NAME=D1,D2,...>', 'fix symbolic input dims (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet)')
    .option('--json', 'print the model record as JSON')
    .action(async (file: string, flags: { name: string; eval: string; shape: string[]; dataDir?: string; json?: boolean }) => {
      const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (err: unknown) {
        throw new EdgefleetError('EF_ERR_MODEL_PARSE', `cannot read ${file}: ${(err as Error).message}`, { file }, { cause: err });
      }
      const store = openStore({ dataDir: config.dataDir });
      try {
        const { model, added } = await addModel({ store, dataDir: config.dataDir, bytes, name: flags.name, evalSpec: flags.eval, shapes: parseShapes(flags.shape) });
        if (flags.json) process.stdout.write(`${JSON.stringify({ added, model }, null, 2)}\n`);
        else process.stdout.write(added ? `added model ${model.name} (sha256 ${model.sha256}, ${model.bytes} bytes, eval ${model.evalSpec}); plan it with \`edgefleet plan ${model.name} --all-classes\`\n`
          : `model already stored as ${model.name} (sha256 ${model.sha256}); nothing changed\n`);
      } finally {
        store.close();
      }
    });
  cmd.command('list')
    .description('List stored models.')
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet)')
    .option('--json', 'print JSON instead of a table')
    .action((flags: { dataDir?: string; json?: boolean }) => {
      const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
      const store = openStore({ dataDir: config.dataDir, readonly: true });
      try {
        const models = listModels(store);
        if (flags.json) process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
        else if (models.length === 0) process.stdout.write('no models yet; add one with `edgefleet model add FILE.onnx --name NAME`\n');
        else process.stdout.write(`${formatTable(['NAME', 'SHA256', 'BYTES', 'EVAL'], models.map((m) => [m.name, m.sha256.slice(0, 16), String(m.bytes), m.evalSpec]))}\n`);
      } finally {
        store.close();
      }
    });
  return cmd;
}
