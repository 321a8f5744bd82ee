import { Command, Option } from 'commander';
import { EdgefleetError } from '@edgefleet/shared';
import { startVariantQueue } from '@edgefleet/server/plan/variant-queue';
import { openPostgresStore } from '@edgefleet/server/store/postgres/open';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';

interface WorkerFlags {
  store?: string;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/**
 * `edgefleet worker`: builds variants from the Postgres job queue of server replicas, one at a
 * time, until SIGINT/SIGTERM. The jobs name model and artifact paths in the replicas' shared
 * directory (`--shared-dir`), which must be mounted at the same path here. It stores each
 * finished variant in the replicas' store itself, so a build lands even when the replica that
 * asked for it died meanwhile.
 */
export function workerCommand(): Command {
  return new Command('worker')
    .description(
      'Build compression variants from the job queue of server replicas on Postgres (--store) and store them there; ' +
        'a build whose worker died is retried. Stops on Ctrl-C / SIGTERM after the build in progress.',
    )
    .option('--store <url>', 'the replicas’ Postgres (postgres://user:password@host:5432/db; env EDGEFLEET_STORE)')
    .addOption(
      new Option('--log-level <level>', 'log level (default info)').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .action(async (flags: WorkerFlags) => {
      const store = flags.store ?? process.env['EDGEFLEET_STORE'];
      if (!store || !/^postgres(ql)?:\/\//i.test(store))
        throw new EdgefleetError(
          'EF_ERR_CLI_USAGE',
          'edgefleet worker needs the replicas’ Postgres: --store postgres://user:password@host:5432/db (or ' +
            'EDGEFLEET_STORE)',
        );
      const logger = createCliLogger(flags.logLevel ?? 'info');
      const stopped = waitForShutdownSignal();
      // The replicas' store (migrated like a replica would), where each finished variant is stored.
      const fleet = await openPostgresStore({ url: store, poolSize: 2 });
      const queue = await startVariantQueue({ connectionString: store, logger, variants: fleet.repos.variants });
      await queue.work();
      logger.info('worker ready: taking variant builds from the queue');
      const signal = await stopped;
      logger.info({ signal }, 'stopping after the build in progress');
      await queue.close();
      await fleet.close();
    });
}
