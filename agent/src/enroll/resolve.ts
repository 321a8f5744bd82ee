import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { asError, EdgefleetError, ENROLL_TOKEN_PATTERN } from '@edgefleet/shared/device';
import type { AgentConfig } from '../config/schema.js';
import { AGENT_VERSION } from '../version.js';
import { enrollDevice, enrollIdFor, newPendingEnrollment } from './enroll.js';
import {
  clearPendingEnrollment,
  readIdentity,
  readPendingEnrollment,
  writeIdentity,
  writePendingEnrollment,
  type AgentIdentity,
} from './identity.js';

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
 * The enrollment token: `enrollToken` (flag or env), else the first line of
 * `enrollTokenFile`; undefined when neither is set. Throws EF_ERR_CONFIG_FILE when the file
 * cannot be read and EF_ERR_CONFIG_INVALID when it does not hold a token.
 */
export function enrollmentToken(config: Pick<AgentConfig, 'enrollToken' | 'enrollTokenFile'>): string | undefined {
  if (config.enrollToken !== undefined) return config.enrollToken;
  if (config.enrollTokenFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(config.enrollTokenFile, 'utf8');
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_CONFIG_FILE',
      `cannot read the enrollment token file ${config.enrollTokenFile}: ${asError(err).message}; check ` +
        `--enroll-token-file`,
      { path: config.enrollTokenFile },
      { cause: err },
    );
  }
  const token = text.split('\n')[0]?.trim() ?? '';
  if (!ENROLL_TOKEN_PATTERN.test(token))
    throw new EdgefleetError(
      'EF_ERR_CONFIG_INVALID',
      `${config.enrollTokenFile} does not hold an enrollment token (efe_<12 hex>_<43 characters>, as \`edgefleet ` +
        `enroll-token create\` prints it)`,
      { path: config.enrollTokenFile },
    );
  return token;
}

/**
 * Gives the agent its identity before it starts [EF-PROTO 7.2]: a stored identity wins;
 * otherwise, with an enrollment token, it enrolls (using its configured device id as the
 * wish), stores the identity (mode 0600) and uses it; with neither, the config is returned
 * as is (a server with auth off). An enrollment cut short (restart, timeout) resumes with the
 * same session next time, so it never counts a second use of the token.
 */
export async function resolveAgentIdentity(config: AgentConfig, logger: Logger): Promise<AgentConfig> {
  const stored = readIdentity(config.dataDir);
  if (stored) {
    logger.info({ deviceId: stored.deviceId, deviceClass: stored.deviceClass }, 'using stored identity');
    return applyIdentity(config, stored);
  }
  const token = enrollmentToken(config);
  if (token === undefined) return config;
  const tokenId = enrollIdFor(token).slice('enroll-'.length);
  const pending = readPendingEnrollment(config.dataDir, tokenId) ?? newPendingEnrollment();
  await writePendingEnrollment(config.dataDir, tokenId, pending);
  const enrolled = await enrollDevice({
    brokerUrl: config.brokerUrl,
    token,
    requestedDeviceId: config.deviceId,
    agentVersion: AGENT_VERSION,
    logger,
    pending,
    timeoutMs: config.enrollTimeoutS * 1000,
  });
  const identity: AgentIdentity = {
    deviceId: enrolled.deviceId,
    deviceClass: enrolled.deviceClass,
    secret: enrolled.secret,
    signingKeys: [...enrolled.signingKeys],
    enrolledAt: Date.now(),
  };
  const path = await writeIdentity(config.dataDir, identity);
  clearPendingEnrollment(config.dataDir);
  logger.info({ deviceId: identity.deviceId, path }, 'identity stored; connecting as the device');
  return applyIdentity(config, identity);
}
