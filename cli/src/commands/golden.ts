import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { goldenFor, goldenReportLine, parseGoldenSource, type GoldenSource } from '../golden-source.js';
import { planChoice, type PlanRef } from '../plan-choice.js';
import { usageError } from '../usage.js';

interface MakeFlags extends AdminFlags {
  from: GoldenSource;
  variant?: string;
  plan?: PlanRef;
  class?: string;
  margin?: number;
  out?: string;
}

const pts = (text: string): number => {
  const n = Number(text);
  if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError('points between 0 and 100');
  return n;
};

/**
 * `edgefleet golden make`: a golden set for a variant, written as the JSON `rollout start
 * --golden FILE` and `POST /v1/rollouts` take. The server makes it from data and runs it on the
 * variant on its host, so the file's minAccuracy is what the variant reaches there minus a margin.
 */
export function goldenCommand(): Command {
  const cmd = new Command('golden').description(
    'Golden sets (the smoke test every device runs before it switches to a new model; PROTOCOL.md 6.5).',
  );
  addAdminFlags(cmd.command('make'))
    .description(
      'Make a golden set for a variant from data; the server runs it on the variant and sets minAccuracy from ' +
        'that host run. Prints the JSON (or writes it with -o) and, on stderr, what it holds and the size limit.',
    )
    .requiredOption(
      '--from <source>',
      "mnist[:N] (MNIST test digits), auto[:N] (the variant's model's evaluation data, labels included) or a " +
        'sample directory with labels',
      (v: string) => {
        const s = parseGoldenSource(v);
        if (s.kind === 'file') throw new InvalidArgumentError('a golden-set file is already a golden set');
        return s;
      },
    )
    .option('--variant <sha>', 'the variant (artifact sha256 or a unique prefix)')
    .option('--plan [id]', "the variant a plan chose (with --class; default the class's newest plan)")
    .option('--class <name>', 'the class whose plan --plan means')
    .option('--margin <pts>', 'minAccuracy = host accuracy on the rows minus this many points (default 5)', pts)
    .option('-o, --out <file>', 'write the golden set here instead of stdout')
    .action(async (f: MakeFlags) => {
      if ((f.variant === undefined) === (f.plan === undefined))
        throw usageError('give exactly one of --variant SHA or --plan [ID] --class C');
      if (f.plan !== undefined && f.class === undefined) throw usageError('--plan needs --class C');
      const made = await withFleet(f, { command: 'edgefleet golden make', writes: false }, async (api) => {
        const sha = f.variant ?? (await planChoice(api, f.class as string, f.plan as PlanRef)).sha256;
        return goldenFor(api, sha, f.from, f.margin);
      });
      const json = `${JSON.stringify(made.golden)}\n`;
      if (f.out) await writeFile(f.out, json);
      else process.stdout.write(json);
      if (made.report) process.stderr.write(`${goldenReportLine(made.report)}\n`);
      if (f.out) process.stderr.write(`wrote ${f.out}; use it with \`edgefleet rollout start --golden ${f.out}\`\n`);
    });
  return cmd;
}
