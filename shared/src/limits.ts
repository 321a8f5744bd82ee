/** Protocol limits shared by the server and the agent [EF-PROTO 5]. */

/** Default largest accepted MQTT payload for ordinary messages: 256 KiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/** Largest artifact chunk on the wire: 128 KiB (AWS IoT's block cap; fits mosquitto 2.1 and EMQX packet limits). */
export const MAX_CHUNK_BYTES = 128 * 1024;

/** Default agent keepalive in seconds; the broker declares a client dead after 1.5× this. */
export const DEFAULT_KEEPALIVE_S = 10;

/** Default heartbeat interval in milliseconds. */
export const DEFAULT_HEARTBEAT_MS = 5_000;
