import type { Logger } from 'pino';
import type { AgentConfig } from '../config/schema.js';
import { AGENT_VERSION } from '../version.js';
import { enrollDevice } from './enroll.js';
import { readIdentity, writeIdentity, type AgentIdentity } from './identity.js';

/** Broker URL with the device's credentials as user info (mqtt.js reads them from there). */
export function brokerUrlWithCredentials(brokerUrl: string, username: string, password: string): string {
  const url = new URL(brokerUrl);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** The config the agent runs with once it has an identity: its id, class, credentials and trusted keys. */
export function applyIdentity(config: AgentConfig, identity: AgentIdentity): AgentConfig {
  const trustedKeys = [...new Set([...config.trustedKeys, ...identity.signingKeys])];
  return Object.freeze({
    ...config,
    deviceId: identity.deviceId,
    deviceClass: identity.deviceClass,
    brokerUrl: brokerUrlWithCredentials(config.brokerUrl, identity.deviceId, identity.secret),
    trustedKeys,
  });
}

/**
 * Gives the agent its identity before it starts [EF-PROTO 7.2]: a stored identity wins;
 * otherwise, with `enrollToken`, it enrolls (using its configured device id as the wish),
 * stores the identity (mode 0600) and uses it; with neither, the config is returned as is
 * (a server with auth off).
 */
export async function resolveAgentIdentity(config: AgentConfig, logger: Logger): Promise<AgentConfig> {
  const stored = readIdentity(config.dataDir);
  if (stored) {
    logger.info({ deviceId: stored.deviceId, deviceClass: stored.deviceClass }, 'using stored identity');
    return applyIdentity(config, stored);
  }
  if (config.enrollToken === undefined) return config;
  const accepted = await enrollDevice({
    brokerUrl: config.brokerUrl,
    token: config.enrollToken,
    requestedDeviceId: config.deviceId,
    agentVersion: AGENT_VERSION,
    logger,
  });
  const identity: AgentIdentity = {
    deviceId: accepted.deviceId,
    deviceClass: accepted.deviceClass,
    secret: accepted.secret,
    signingKeys: accepted.signingKeys,
    enrolledAt: Date.now(),
  };
  const path = await writeIdentity(config.dataDir, identity);
  logger.info({ deviceId: identity.deviceId, path }, 'identity stored; connecting as the device');
  return applyIdentity(config, identity);
}
