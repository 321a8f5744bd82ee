/**
 * The embedded broker's byte-level gate (issue 18, finding 2). aedes hands a socket to
 * mqtt-packet's parser, which buffers a whole packet before anything can look at it, and
 * sets no size limit: a CONNECT announcing 200 MiB was read into memory (one connection
 * +152 MB RSS). The gate sits between the socket and aedes and reads only MQTT fixed headers
 * [MQTT-2.2]: a packet whose announced remaining length is above the limit ends the
 * connection before its body is read. The limit is small until the broker accepted CONNECT
 * (a CONNECT is a few hundred bytes; a client must wait for CONNACK before it sends more,
 * and ours do), then the largest packet a client may legitimately send.
 *
 * The gate also counts connections per remote address that have not been accepted yet, so
 * one address cannot hold thousands of half-open sockets (each waiting up to the connect
 * timeout) — see `createPendingConnections`.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface PacketLimits {
  /** Largest remaining length accepted once CONNECT succeeded, bytes. */
  readonly maxPacketBytes: number;
  /** Largest remaining length accepted before that (the CONNECT itself, or anything sent early), bytes. */
  readonly maxConnectPacketBytes: number;
}

/** Follows packet boundaries through a byte stream by reading fixed headers only. */
export interface PacketScanner {
  /** Feeds the next bytes; returns null while every packet fits, else why the stream must end. */
  scan(bytes: Uint8Array): string | null;
  /** From now on the larger limit applies (the broker accepted CONNECT). */
  accept(): void;
}

/** MQTT's remaining length is a variable byte integer of at most 4 bytes [MQTT-2.2.3]. */
const MAX_LENGTH_BYTES = 4;

export function createPacketScanner(limits: PacketLimits): PacketScanner {
  let accepted = false;
  /** Body bytes of the current packet still to skip. */
  let bodyLeft = 0;
  /** 0: at a packet's first byte; 1..4: that many length bytes expected/read so far. */
  let headerAt = 0;
  let length = 0;
  let multiplier = 1;
  return {
    accept() {
      accepted = true;
    },
    scan(bytes) {
      let i = 0;
      while (i < bytes.length) {
        if (bodyLeft > 0) {
          const skip = Math.min(bodyLeft, bytes.length - i);
          bodyLeft -= skip;
          i += skip;
          continue;
        }
        const byte = bytes[i] as number;
        i += 1;
        if (headerAt === 0) {
          // The packet type byte; aedes judges the type itself.
          headerAt = 1;
          length = 0;
          multiplier = 1;
          continue;
        }
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if (byte & 0x80) {
          headerAt += 1;
          if (headerAt > MAX_LENGTH_BYTES) return 'malformed remaining length (more than 4 bytes)';
          continue;
        }
        const limit = accepted ? limits.maxPacketBytes : limits.maxConnectPacketBytes;
        if (length > limit)
          return `packet announces ${length} bytes, above the ${accepted ? '' : 'pre-CONNECT '}limit of ${limit}`;
        headerAt = 0;
        bodyLeft = length;
      }
      return null;
    },
  };
}

/**
 * A socket as aedes sees it, with the scanner on the inbound bytes. Reads are pulled from
 * the socket only as aedes consumes them (the socket is paused otherwise), so at most one
 * stream buffer and one packet below the limit are held per connection.
 */
export class GatedConnection extends Duplex {
  readonly #socket: Socket;
  readonly #scanner: PacketScanner;
  #onAccepted: (() => void) | null;
  /** The client id once the broker accepted CONNECT (null before). */
  #clientId: string | null = null;

  /**
   * `onRefuse` hears why the connection is being ended, with the client id when CONNECT had
   * been accepted (an oversize packet from a known client) or null (refused before CONNECT).
   */
  constructor(
    socket: Socket,
    limits: PacketLimits,
    onRefuse: (why: string, clientId: string | null) => void,
    onAccepted: () => void,
  ) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#scanner = createPacketScanner(limits);
    this.#onAccepted = onAccepted;
    socket.on('data', (chunk: Buffer) => {
      const refusal = this.#scanner.scan(chunk);
      if (refusal) {
        onRefuse(refusal, this.#clientId);
        socket.destroy();
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** aedes reads the peer's address here (the connect rate limit keys on it). */
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  /** The broker accepted this client's CONNECT: the larger packet limit applies from now on. */
  markAccepted(clientId: string): void {
    this.#clientId = clientId;
    this.#scanner.accept();
    const notify = this.#onAccepted;
    this.#onAccepted = null;
    notify?.();
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#socket.write(chunk, encoding)) callback();
    else this.#socket.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    callback(error);
  }
}

/** Connections per remote address that have not been accepted yet. */
export interface PendingConnections {
  /** Counts a new connection from `address`; false (and nothing counted) when the address is at its cap. */
  open(address: string): boolean;
  /** The connection was accepted or closed: it no longer counts. Call once per successful `open`. */
  settle(address: string): void;
  count(address: string): number;
}

export function createPendingConnections(maxPerAddress: number): PendingConnections {
  const pending = new Map<string, number>();
  return {
    open(address) {
      const n = pending.get(address) ?? 0;
      if (n >= maxPerAddress) return false;
      pending.set(address, n + 1);
      return true;
    },
    settle(address) {
      const n = (pending.get(address) ?? 0) - 1;
      if (n > 0) pending.set(address, n);
      else pending.delete(address);
    },
    count: (address) => pending.get(address) ?? 0,
  };
}
