/**
 * Chooses how the server keeps the broker's credentials in step (broker-credentials.ts): the
 * embedded broker, mosquitto's dynamic security plugin when an external broker answers on its
 * control topic (or `brokerDynsec: on` demands it), else the file generator's way.
 */
import { asError, EdgefleetError } from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../schedule/scheduler.js';
import {
  dynsecBrokerCredentials,
  embeddedBrokerCredentials,
  fileBrokerCredentials,
  type BrokerCredentials,
} from './broker-credentials.js';
import { createDynsecClient, type DynsecClient } from './dynsec-client.js';
import { DEFAULT_ACL_ACCESS } from './dynsec-model.js';
import type { AuthService } from './service.js';

export interface BrokerCredentialSetup {
  readonly config: Pick<ServerConfig, 'brokerDynsec' | 'auth'>;
  /** The embedded broker's disconnect, or null with an external broker. */
  readonly embedded: ((deviceId: string) => boolean) | null;
  readonly client: BrokerClient;
  readonly auth: AuthService;
  /** Runs the dynamic security mode's token sweep. */
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  readonly now: () => number;
  /** How long the plugin may take to answer the probe, ms. Default 3000. */
  readonly probeMs?: number;
}

async function tryDynsec(setup: BrokerCredentialSetup): Promise<DynsecClient | null> {
  let client: DynsecClient;
  try {
    client = await createDynsecClient(setup.client, setup.logger);
  } catch (err: unknown) {
    setup.logger.debug({ err: asError(err).message }, 'no access to the dynamic security response topic');
    return null;
  }
  if (await client.probe(setup.probeMs ?? 3000)) return client;
  client.close();
  return null;
}

/** Picks and starts the broker credential mode; throws EF_ERR_BROKER_CONNECT when `brokerDynsec: on` cannot be met. */
export async function setupBrokerCredentials(setup: BrokerCredentialSetup): Promise<BrokerCredentials> {
  const log = setup.logger;
  if (setup.embedded) return embeddedBrokerCredentials(setup.embedded);
  if (!setup.config.auth.enabled || setup.config.brokerDynsec === 'off') return fileBrokerCredentials(log, setup.now);
  const dynsec = await tryDynsec(setup);
  if (!dynsec) {
    if (setup.config.brokerDynsec === 'on')
      throw new EdgefleetError(
        'EF_ERR_BROKER_CONNECT',
        "the broker's dynamic security plugin does not answer on $CONTROL/dynamic-security/v1: load " +
          "mosquitto_dynamic_security.so and give the server's client the edgefleet-server role (edgefleet " +
          'broker-config mosquitto --dynsec), or start with --broker-dynsec auto|off',
      );
    log.info(
      'external broker without the dynamic security plugin: enrollments and revocations need `edgefleet ' +
        'broker-config mosquitto` and a reload',
    );
    return fileBrokerCredentials(log, setup.now);
  }
  const [access] = await dynsec.send([
    {
      command: 'setDefaultACLAccess',
      acls: Object.entries(DEFAULT_ACL_ACCESS).map(([acltype, allow]) => ({ acltype, allow })),
    },
  ]);
  if (access?.error)
    log.warn({ error: access.error }, 'could not set the default ACL access of the dynamic security plugin');
  const credentials = await dynsecBrokerCredentials({
    client: dynsec,
    auth: setup.auth,
    scheduler: setup.scheduler,
    logger: log,
    now: setup.now,
  });
  const { removed, missing } = await credentials.reconcile();
  log.info({ removed: removed.length }, 'managing broker credentials live through mosquitto dynamic security');
  if (missing.length > 0)
    log.error(
      { missing: missing.slice(0, 20), count: missing.length },
      'the broker lacks credentials the store has (the server keeps no secrets to recreate them): stop mosquitto and ' +
        'rewrite its dynamic-security.json with `edgefleet broker-config mosquitto --dynsec`, or enroll those ' +
        'devices again',
    );
  return credentials;
}
