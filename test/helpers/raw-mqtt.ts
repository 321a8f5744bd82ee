/**
 * Raw MQTT 3.1.1 bytes for abuse tests: packets built by hand (so a test can announce a
 * length it never sends), a socket that reports when the broker closed it, and what it read.
 */
import { connect as netConnect, type Socket } from 'node:net';

/** MQTT's variable byte integer [MQTT-2.2.3]. */
export function varint(n: number): Buffer {
  const bytes: number[] = [];
  let rest = n;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

const str = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

/** A whole packet: type byte, remaining length, body. */
export function packet(typeByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([typeByte]), varint(body.length), body]);
}

/** CONNECT, clean session, keepalive 30 s, with user name and password when given. */
export function connectPacket(clientId: string, username?: string, password?: string): Buffer {
  const flags = 0x02 | (username === undefined ? 0 : 0x80) | (password === undefined ? 0 : 0x40);
  const header = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 30])]);
  const payload = [str(clientId), ...(username === undefined ? [] : [str(username)])];
  if (password !== undefined) payload.push(str(password));
  return packet(0x10, Buffer.concat([header, ...payload]));
}

/** PUBLISH at QoS 0. */
export function publishPacket(topic: string, payload: Buffer | string): Buffer {
  return packet(0x30, Buffer.concat([str(topic), Buffer.from(payload)]));
}

export interface RawClient {
  readonly socket: Socket;
  /** Everything read so far. */
  received(): Buffer;
  /** Resolves when the socket closed (true), or false after `ms`. */
  closedWithin(ms: number): Promise<boolean>;
  /** Resolves once `n` bytes were read, or rejects after `ms`. */
  read(n: number, ms?: number): Promise<Buffer>;
  /** Writes and resolves when flushed, or with false when the broker closed the socket first. */
  write(bytes: Buffer): Promise<boolean>;
  /**
   * Writes `total` bytes of zeros in 64 KiB pieces, stopping if the socket closes; resolves
   * with the bytes the kernel took.
   */
  stream(total: number): Promise<number>;
}

export function rawConnect(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    let closed = false;
    const closeWaiters: Array<() => void> = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      for (const w of closeWaiters.splice(0)) w();
    });
    socket.once('connect', () => {
      const client: RawClient = {
        socket,
        received: () => Buffer.concat(chunks),
        closedWithin: (ms) =>
          closed
            ? Promise.resolve(true)
            : new Promise((done) => {
                const timer = setTimeout(() => done(false), ms);
                closeWaiters.push(() => {
                  clearTimeout(timer);
                  done(true);
                });
              }),
        async read(n, ms = 5_000) {
          const start = Date.now();
          while (Buffer.concat(chunks).length < n) {
            if (closed || Date.now() - start > ms)
              throw new Error(`read ${Buffer.concat(chunks).length} of ${n} bytes`);
            await new Promise((r) => setTimeout(r, 5));
          }
          return Buffer.concat(chunks).subarray(0, n);
        },
        write: (bytes) =>
          new Promise((done) => {
            if (closed) return done(false);
            socket.write(bytes, (err) => done(!err && !closed));
          }),
        async stream(total) {
          const piece = Buffer.alloc(64 * 1024);
          let sent = 0;
          while (sent < total && !closed) {
            if (!(await client.write(piece))) break;
            sent += piece.length;
          }
          return sent;
        },
      };
      resolve(client);
    });
    socket.once('error', reject);
  });
}
