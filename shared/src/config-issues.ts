/**
 * Configuration problems, printed the one way every edgefleet process prints them: one line
 * per problem, starting with its dotted path (`presence.offlineAfterMs: Too small: …`) [STYLE 6].
 */
import type { z } from 'zod';
import { EdgefleetError } from './errors.js';

/** One line per problem, each starting with its dotted path (`(root)` for the whole document). */
export function formatConfigIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
}

/** EF_ERR_CONFIG_INVALID listing every problem; `what` names the config, `fix` says where to change it. */
export function configInvalidError(what: string, error: z.ZodError, fix: string): EdgefleetError {
  const problems = formatConfigIssues(error);
  return new EdgefleetError('EF_ERR_CONFIG_INVALID', `invalid ${what}:\n  ${problems.join('\n  ')}\n${fix}`, {
    problems,
  });
}
