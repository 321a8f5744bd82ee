/**
 * MQTT topic scheme. Every topic string edgefleet uses is built and parsed here and nowhere
 * else [EF-PROTO 2].
 *
 *   ef/v1/devices/{deviceId}/{channel}
 *
 * Device-to-server channels are published by the agent; server-to-device channels are
 * published by the server (see PROTOCOL.md for QoS and retain flags).
 */

/** Root of every edgefleet topic; the version segment changes only with an incompatible protocol. */
export const TOPIC_PREFIX = 'ef/v1';

/** Channels a device publishes on. */
export const DEVICE_CHANNELS = ['hello', 'status', 'heartbeat', 'telemetry', 'events', 'chunk-req'] as const;
/** Channels the server publishes on for one device. */
export const SERVER_CHANNELS = ['desired', 'chunks', 'commands', 'telemetry-ack'] as const;

export type DeviceChannel = (typeof DEVICE_CHANNELS)[number];
export type ServerChannel = (typeof SERVER_CHANNELS)[number];
export type Channel = DeviceChannel | ServerChannel;

/** Device ids: 1–64 chars, letters, digits, `_`, `.`, `-`; never MQTT wildcards or separators. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID_PATTERN.test(id);
}

/** Builds `ef/v1/devices/{id}/{channel}`; throws on an invalid id (a programmer error). */
export function deviceTopic(deviceId: string, channel: Channel): string {
  if (!isValidDeviceId(deviceId)) throw new TypeError(`invalid device id: ${JSON.stringify(deviceId)}`);
  return `${TOPIC_PREFIX}/devices/${deviceId}/${channel}`;
}

/** Subscription filter for one channel of every device, e.g. `ef/v1/devices/+/hello`. */
export function allDevicesFilter(channel: Channel): string {
  return `${TOPIC_PREFIX}/devices/+/${channel}`;
}

/** Subscription filter for everything under one device. */
export function deviceSubtreeFilter(deviceId: string): string {
  if (!isValidDeviceId(deviceId)) throw new TypeError(`invalid device id: ${JSON.stringify(deviceId)}`);
  return `${TOPIC_PREFIX}/devices/${deviceId}/#`;
}

export interface ParsedTopic {
  readonly deviceId: string;
  readonly channel: Channel;
  readonly direction: 'device-to-server' | 'server-to-device';
}

const ALL_CHANNELS: ReadonlySet<string> = new Set<string>([...DEVICE_CHANNELS, ...SERVER_CHANNELS]);

/** Parses a topic of the scheme; returns null for anything outside it. */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 5) return null;
  const [root, version, devices, deviceId, channel] = parts as [string, string, string, string, string];
  if (`${root}/${version}` !== TOPIC_PREFIX || devices !== 'devices') return null;
  if (!isValidDeviceId(deviceId) || !ALL_CHANNELS.has(channel)) return null;
  const direction = (DEVICE_CHANNELS as readonly string[]).includes(channel) ? 'device-to-server' : 'server-to-device';
  return { deviceId, channel: channel as Channel, direction };
}

/**
 * Enrollment topics [EF-PROTO 7]: `ef/v1/enroll/{enrollId}/{session}/request|reply`. They live
 * outside the device tree because an enrolling agent has no device id yet. The enroll id is
 * the MQTT user name of every connection enrolling with one token (`enroll-` + the token's id);
 * the session (16 lowercase hex digits, random per enrollment) tells its enrollments apart, so
 * many devices can enroll with one token at once, each with its own client id
 * (`<enrollId>-<session>`, {@link enrollClientId}) and its own reply topic.
 */
export const ENROLL_CHANNELS = ['enroll-request', 'enroll-reply'] as const;
export type EnrollChannel = (typeof ENROLL_CHANNELS)[number];

/** Enroll ids: the MQTT user name of enrollment connections (`enroll-` + the token id). */
export const ENROLL_ID_PATTERN = /^enroll-[0-9a-f]{8,32}$/;
/** One enrollment attempt series of one agent: 16 lowercase hex digits. */
export const ENROLL_SESSION_PATTERN = /^[0-9a-f]{16}$/;

export function isValidEnrollId(id: string): boolean {
  return ENROLL_ID_PATTERN.test(id);
}

export function isValidEnrollSession(session: string): boolean {
  return ENROLL_SESSION_PATTERN.test(session);
}

/** The MQTT client id of one enrollment: `<enrollId>-<session>`. */
export function enrollClientId(enrollId: string, session: string): string {
  if (!isValidEnrollId(enrollId) || !isValidEnrollSession(session))
    throw new TypeError(`invalid enroll id or session: ${JSON.stringify([enrollId, session])}`);
  return `${enrollId}-${session}`;
}

/** Splits an enrollment client id into its enroll id and session; null when it is not one. */
export function parseEnrollClientId(clientId: string): { readonly enrollId: string; readonly session: string } | null {
  const match = /^(enroll-[0-9a-f]{8,32})-([0-9a-f]{16})$/.exec(clientId);
  return match ? { enrollId: match[1] as string, session: match[2] as string } : null;
}

const ENROLL_SUFFIX: Readonly<Record<EnrollChannel, string>> = { 'enroll-request': 'request', 'enroll-reply': 'reply' };

/** Builds `ef/v1/enroll/{enrollId}/{session}/request|reply`; throws on an invalid id (a programmer error). */
export function enrollTopic(enrollId: string, session: string, channel: EnrollChannel): string {
  if (!isValidEnrollId(enrollId)) throw new TypeError(`invalid enroll id: ${JSON.stringify(enrollId)}`);
  if (!isValidEnrollSession(session)) throw new TypeError(`invalid enroll session: ${JSON.stringify(session)}`);
  return `${TOPIC_PREFIX}/enroll/${enrollId}/${session}/${ENROLL_SUFFIX[channel]}`;
}

/** The filter the server subscribes to for enrollment requests. */
export const ENROLL_REQUEST_FILTER = `${TOPIC_PREFIX}/enroll/+/+/request`;

/** Parses an enrollment topic; returns null for anything else. */
export function parseEnrollTopic(
  topic: string,
): { readonly enrollId: string; readonly session: string; readonly channel: EnrollChannel } | null {
  const parts = topic.split('/');
  if (parts.length !== 6) return null;
  const [root, version, enroll, enrollId, session, suffix] = parts as [string, string, string, string, string, string];
  if (`${root}/${version}` !== TOPIC_PREFIX || enroll !== 'enroll' || !isValidEnrollId(enrollId)) return null;
  if (!isValidEnrollSession(session)) return null;
  if (suffix === 'request') return { enrollId, session, channel: 'enroll-request' };
  if (suffix === 'reply') return { enrollId, session, channel: 'enroll-reply' };
  return null;
}
