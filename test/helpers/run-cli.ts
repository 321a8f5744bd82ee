/**
 * Runs the `edgefleet` CLI in-process and captures what it prints. Assert only on the
 * returned value: while a command runs, stdout is captured, and tap writes its own TAP lines
 * to stdout.
 */
import { main } from '@edgefleet/cli';

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(argv: readonly string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  const error = console.error;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  console.error = (...args: unknown[]) => {
    err += `${args.join(' ')}\n`;
  };
  try {
    return { code: await main(['node', 'edgefleet', ...argv]), out, err };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
    console.error = error;
  }
}
