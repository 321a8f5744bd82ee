import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import {
  apiEvalSpecSchema,
  asError,
  EdgefleetError,
  modelListSchema,
  modelUploadedSchema,
  type ModelView,
} from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { usageError } from '../usage.js';
import { formatTable } from './devices.js';

function printAdded(model: ModelView, added: boolean, repaired: boolean, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify({ added, repaired, model }, null, 2)}\n`);
  else
    process.stdout.write(
      added
        ? `added model ${model.name} (sha256 ${model.sha256}, ${model.bytes} bytes, eval ${model.evalSpec}); ` +
            `plan it with \`edgefleet plan ${model.name} --all-classes\`\n`
        : repaired
          ? `model already stored as ${model.name} (sha256 ${model.sha256}), but its file was missing or damaged: ` +
            'rewritten from these bytes\n'
          : `model already stored as ${model.name} (sha256 ${model.sha256}); nothing changed\n`,
    );
}

function printModels(models: readonly ModelView[], json: boolean | undefined): void {
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

/** `--shape NAME=D1,D2` values, checked here so a typo is a usage error before anything is uploaded. */
function checkShapes(values: readonly string[]): string[] {
  for (const v of values)
    if (!/^[^=]+=\d+(?:,\d+)*$/.test(v))
      throw usageError(`--shape "${v}" is not NAME=D1,D2,…; e.g. --shape x=1,3,48,192`, { value: v });
  return [...values];
}

/**
 * `--eval`: named data (mnist…, random:N) as it is, a sample directory as an absolute path (the
 * server reads it, so only a server on this host can; it says so otherwise).
 */
function evalSpecFor(spec: string): string {
  return apiEvalSpecSchema.safeParse(spec).success ? spec : resolve(spec);
}

/** `edgefleet model add|list`: the content-addressed model store, through the admin API. */
export function modelCommand(): Command {
  const cmd = new Command('model').description(
    'Store ONNX models (content-addressed by sha256) with the data they are evaluated on (through the admin API).',
  );
  addAdminFlags(cmd.command('add'))
    .description('Add a model (the bytes are uploaded); adding the same bytes again changes nothing.')
    .argument('<file>', 'path to the .onnx file')
    .requiredOption('--name <name>', 'a name to plan it by')
    .option(
      '--eval <spec>',
      'evaluation data: mnist, mnist:SPLIT[:N], random:N, or a sample directory (only for a server on this host)',
      'mnist',
    )
    .option(
      '--shape <NAME=D1,D2,...>',
      'fix symbolic input dims (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--json', 'print the model record as JSON')
    .action(
      async (file: string, flags: AdminFlags & { name: string; eval: string; shape: string[]; json?: boolean }) => {
        const shapes = checkShapes(flags.shape);
        let bytes: Uint8Array;
        try {
          bytes = await readFile(file);
        } catch (err: unknown) {
          throw new EdgefleetError(
            'EF_ERR_MODEL_PARSE',
            `cannot read ${file}: ${asError(err).message}`,
            { file },
            {
              cause: err,
            },
          );
        }
        const query = new URLSearchParams({ name: flags.name, eval: evalSpecFor(flags.eval) });
        for (const s of shapes) query.append('shape', s);
        const { model, added, repaired } = await withFleet(
          flags,
          { command: 'edgefleet model add', writes: true },
          (api) => api.postBytes(`/v1/models?${query.toString()}`, bytes, modelUploadedSchema),
        );
        printAdded(model, added, repaired, flags.json);
      },
    );
  addAdminFlags(cmd.command('list'))
    .description('List stored models.')
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: AdminFlags & { json?: boolean }) => {
      const { models } = await withFleet(flags, { command: 'edgefleet model list', writes: false }, (api) =>
        api.get('/v1/models', modelListSchema),
      );
      printModels(models, flags.json);
    });
  return cmd;
}
