import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { EdgefleetError } from '@edgefleet/shared';
import { loadServerConfig } from '@edgefleet/server';
import { openStore } from '@edgefleet/server/store/db';
import { addModel, listModels } from '@edgefleet/server/plan/index';
import { addApiFlags, apiClientFromFlags } from '../api-client.js';
import { formatTable } from './devices.js';

interface ModelRow {
  readonly name: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly evalSpec: string;
}

function printAdded(model: ModelRow, added: boolean, repaired: boolean, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify({ added, repaired, model }, null, 2)}\n`);
  else
    process.stdout.write(
      added
        ? `added model ${model.name} (sha256 ${model.sha256}, ${model.bytes} bytes, eval ${model.evalSpec}); plan it with \`edgefleet plan ${model.name} --all-classes\`\n`
        : repaired
          ? `model already stored as ${model.name} (sha256 ${model.sha256}), but its file was missing or damaged: rewritten from these bytes\n`
          : `model already stored as ${model.name} (sha256 ${model.sha256}); nothing changed\n`,
    );
}

function printModels(models: readonly ModelRow[], json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
  else if (models.length === 0)
    process.stdout.write('no models yet; add one with `edgefleet model add FILE.onnx --name NAME`\n');
  else
    process.stdout.write(
      `${formatTable(
        ['NAME', 'SHA256', 'BYTES', 'EVAL'],
        models.map((m) => [m.name, m.sha256.slice(0, 16), String(m.bytes), m.evalSpec]),
      )}\n`,
    );
}

function parseShapes(values: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(v);
    if (!m?.[1] || !m[2])
      throw new EdgefleetError('EF_ERR_DATA_SOURCE', `--shape "${v}" is not NAME=D1,D2,…; e.g. --shape x=1,3,48,192`, {
        value: v,
      });
    out[m[1]] = m[2].split(',').map(Number);
  }
  return out;
}

/** `edgefleet model add|list`: the content-addressed model store in the data directory, or the admin API with `--api`. */
export function modelCommand(): Command {
  const cmd = new Command('model').description(
    'Store ONNX models (content-addressed by sha256) with the data they are evaluated on.',
  );
  addApiFlags(cmd.command('add'))
    .description(
      'Add a model; adding the same bytes again changes nothing. With --api the bytes are uploaded (POST /v1/models).',
    )
    .argument('<file>', 'path to the .onnx file')
    .requiredOption('--name <name>', 'a name to plan it by')
    .option('--eval <spec>', 'evaluation data: mnist, random:N or a sample directory (not with --api)', 'mnist')
    .option(
      '--shape <NAME=D1,D2,...>',
      'fix symbolic input dims (repeatable; not with --api)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet); ignored with --api')
    .option('--json', 'print the model record as JSON')
    .action(
      async (
        file: string,
        flags: {
          name: string;
          eval: string;
          shape: string[];
          dataDir?: string;
          json?: boolean;
          api?: string;
          token?: string;
        },
      ) => {
        const shapes = parseShapes(flags.shape);
        let bytes: Uint8Array;
        try {
          bytes = await readFile(file);
        } catch (err: unknown) {
          throw new EdgefleetError(
            'EF_ERR_MODEL_PARSE',
            `cannot read ${file}: ${(err as Error).message}`,
            { file },
            { cause: err },
          );
        }
        if (flags.api !== undefined) {
          if (flags.shape.length > 0)
            throw new EdgefleetError(
              'EF_ERR_DATA_SOURCE',
              '--shape is not accepted over the admin API; fix the input dims in the ONNX file, or run `edgefleet model add` on the server host without --api',
              {},
            );
          const query = new URLSearchParams({ name: flags.name, eval: flags.eval });
          const { model, added, repaired } = await apiClientFromFlags(flags).postBytes<{
            model: ModelRow;
            added: boolean;
            repaired: boolean;
          }>(`/v1/models?${query.toString()}`, bytes);
          printAdded(model, added, repaired, flags.json);
          return;
        }
        const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
        const store = openStore({ dataDir: config.dataDir });
        try {
          const { model, added, repaired } = await addModel({
            store,
            dataDir: config.dataDir,
            bytes,
            name: flags.name,
            evalSpec: flags.eval,
            shapes,
          });
          printAdded(model, added, repaired, flags.json);
        } finally {
          store.close();
        }
      },
    );
  addApiFlags(cmd.command('list'))
    .description('List stored models.')
    .option('--data-dir <dir>', 'data directory of the server (default ./.edgefleet); ignored with --api')
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { dataDir?: string; json?: boolean; api?: string; token?: string }) => {
      if (flags.api !== undefined) {
        printModels((await apiClientFromFlags(flags).get<{ models: ModelRow[] }>('/v1/models')).models, flags.json);
        return;
      }
      const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
      const store = openStore({ dataDir: config.dataDir, readonly: true });
      try {
        printModels(listModels(store), flags.json);
      } finally {
        store.close();
      }
    });
  return cmd;
}
