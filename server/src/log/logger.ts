import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * Fields never written to logs. pino's wildcards match one level, so the common nestings are
 * listed explicitly; `authorization` covers HTTP headers, should a request's headers ever be logged.
 */
export const REDACT_PATHS: readonly string[] = [
  'password',
  'token',
  'secret',
  'authorization',
  'privateKey',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.privateKey',
  '*.*.password',
  '*.*.token',
  '*.*.secret',
  '*.*.authorization',
  '*.*.privateKey',
];

export interface CreateLoggerOptions {
  /** Minimum level. Default `info`. */
  readonly level?: LevelWithSilent;
  /**
   * Where lines go. Default stdout as JSON. The CLI passes a pino-pretty stream when stdout is
   * a TTY, so the server library never depends on pino-pretty.
   */
  readonly destination?: DestinationStream;
  /** Base bindings on every line, e.g. `{ service: 'server' }`. */
  readonly base?: Record<string, unknown>;
}

/** Creates the root logger; components take `logger.child({ component })`. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const config = {
    level: options.level ?? 'info',
    base: options.base ?? {},
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** Drops the password of a URL before it is logged (`mqtt://u:secret@h` → `mqtt://u:***@h`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
