import { Command, CommanderError } from 'commander';
import { isEdgefleetError, type ErrorCode } from '@edgefleet/shared';
import { COMMANDS } from './commands/index.js';

/** Errors that mean "the command was called wrongly" (exit 2), not "it failed" (exit 1). */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  'EF_ERR_CLI_USAGE',
  'EF_ERR_CONFIG_INVALID',
  'EF_ERR_CONFIG_FILE',
]);

/**
 * The `edgefleet` command. Each subcommand lives in `commands/<name>.ts` and exports a
 * factory returning a commander `Command`; this file only assembles them and maps errors
 * to exit codes (2 for bad usage or config, 1 for failures).
 */
export async function main(argv: readonly string[]): Promise<number> {
  // Commander prints the errors it detects while parsing; usage errors that a command's
  // action throws (InvalidArgumentError) reach us unprinted, so remember which case it is.
  let commanderPrinted = false;
  const program = new Command('edgefleet')
    .configureOutput({
      outputError: (text, write) => {
        commanderPrinted = true;
        write(text);
      },
    })
    .description(
      'Compress ONNX models per class of edge device, ship them over MQTT, and keep each class within its budgets.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const make of COMMANDS) program.addCommand(inheritSettings(make(), program));
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err: unknown) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return 0;
      if (!commanderPrinted)
        console.error(
          `${err.message.startsWith('error') ? err.message : `error: ${err.message}`}\n(run with --help for usage)`,
        );
      return 2;
    }
    if (isEdgefleetError(err)) {
      console.error(`error ${err.code}: ${err.message}`);
      return USAGE_CODES.has(err.code) ? 2 : 1;
    }
    throw err;
  }
}

/**
 * `addCommand` (unlike `.command()`) does not copy the parent's settings, so without this a
 * bad option value in a subcommand would call `process.exit` instead of throwing the
 * CommanderError that `main` maps to exit code 2 (and would skip `showHelpAfterError`).
 */
function inheritSettings(cmd: Command, parent: Command): Command {
  cmd.copyInheritedSettings(parent);
  for (const sub of cmd.commands) inheritSettings(sub, cmd);
  return cmd;
}
