import pretty from 'pino-pretty';
import { createLogger, type Logger } from '@edgefleet/server/log/logger';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * The CLI's root logger: JSON lines by default (for journald and log shippers), pino-pretty
 * when stdout is a terminal. pino-pretty lives only in the CLI, never in the libraries.
 */
export function createCliLogger(level: Level, stream: NodeJS.WriteStream = process.stdout): Logger {
  if (!stream.isTTY) return createLogger({ level });
  return createLogger({
    level,
    destination: pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true }),
  });
}

/**
 * Resolves when the process gets SIGINT or SIGTERM; a second signal exits at once. Keeps the
 * process alive until then (agents' and farms' timers are unref'd: with the broker down,
 * nothing else would hold the event loop open).
 */
export function waitForShutdownSignal(onSecond: () => void = () => process.exit(1)): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const handle = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGINT', handle);
      process.off('SIGTERM', handle);
      process.once('SIGINT', onSecond);
      process.once('SIGTERM', onSecond);
      resolve(signal);
    };
    process.on('SIGINT', handle);
    process.on('SIGTERM', handle);
  });
}
