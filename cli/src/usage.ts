import { EdgefleetError } from '@edgefleet/shared';

/**
 * A flag or argument the command cannot use: EF_ERR_CLI_USAGE, which `main` turns into exit
 * code 2 like commander's own usage errors. Say which flag and give an example.
 */
export function usageError(message: string, details: Record<string, unknown> = {}): EdgefleetError {
  return new EdgefleetError('EF_ERR_CLI_USAGE', message, details);
}
