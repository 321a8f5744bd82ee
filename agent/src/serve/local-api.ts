/**
 * Local inference API for applications on the device, on 127.0.0.1 and/or a Unix socket.
 * Each listener speaks two protocols, told apart by a connection's first four bytes: the
 * framed binary protocol (`EFQ1…`, frame-protocol.ts) or HTTP (routes in http-handlers.ts).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ServingRuntime } from '../runtime/serving.js';
import { REQUEST_MAGIC } from './frame-protocol.js';
import { serveFrameConnection } from './frame-server.js';
import { createHttpHandler } from './http-handlers.js';

export { inferRequestSchema, toFeeds, type InferRequest } from './http-handlers.js';

export interface LocalApiOptions {
  readonly serving: ServingRuntime;
  readonly logger: Logger;
  /** TCP port on 127.0.0.1; 0 picks a free one. Default: no TCP listener when `socketPath` is set, else 0. */
  readonly port?: number;
  /** Also (or only) listen on this Unix socket. */
  readonly socketPath?: string;
  /** Largest request body or frame, in bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number;
}

export interface LocalApi {
  /** `http://127.0.0.1:<port>`, else `unix:<path>`. */
  readonly url: string;
  /** Every listener: the TCP URL and/or `unix:<path>`. */
  readonly urls: readonly string[];
  readonly port: number | null;
  readonly socketPath: string | null;
  close(): Promise<void>;
}

const MAGIC = Buffer.from(REQUEST_MAGIC, 'latin1');

/** Hands a new connection to the frame protocol or to HTTP, after its first bytes. */
function sniff(socket: Socket, http: HttpServer, onFrames: (socket: Socket, first: Buffer) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (part: Buffer) => {
    head = head.byteLength === 0 ? part : Buffer.concat([head, part]);
    const n = Math.min(head.byteLength, MAGIC.byteLength);
    if (n < MAGIC.byteLength && head.subarray(0, n).equals(MAGIC.subarray(0, n))) return;
    socket.off('data', onData);
    socket.pause();
    if (head.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
      onFrames(socket, head);
      socket.resume();
      return;
    }
    // HTTP: put the bytes back and let the http server own the socket as if it had accepted it.
    socket.unshift(head);
    http.emit('connection', socket);
    socket.resume();
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
}

function listen(server: Server, target: { port: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, '127.0.0.1', done);
  });
}

/** Starts the local API; resolves once every listener listens. */
export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const log = options.logger.child({ component: 'local-api' });
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, createHttpHandler({ ...options, maxBodyBytes }));
  const sockets = new Set<Socket>();
  const onFrames = (socket: Socket, first: Buffer) =>
    serveFrameConnection(socket, first, { serving: options.serving, logger: log, maxFrameBytes: maxBodyBytes });
  const makeListener = () =>
    createNetServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      sniff(socket, http, onFrames);
    });
  const listeners: Server[] = [];
  let port: number | null = null;
  const socketPath = options.socketPath ?? null;
  const wantTcp = options.port !== undefined || socketPath === null;
  try {
    if (wantTcp) {
      const tcp = makeListener();
      await listen(tcp, { port: options.port ?? 0 });
      listeners.push(tcp);
      port = (tcp.address() as AddressInfo).port;
    }
    if (socketPath !== null) {
      // A socket file left by a crashed agent would make listen() fail with EADDRINUSE.
      await rm(socketPath, { force: true });
      const unix = makeListener();
      await listen(unix, { path: socketPath });
      listeners.push(unix);
    }
  } catch (err: unknown) {
    for (const l of listeners) l.close();
    throw err;
  }
  const urls = [
    ...(port === null ? [] : [`http://127.0.0.1:${port}`]),
    ...(socketPath === null ? [] : [`unix:${socketPath}`]),
  ];
  for (const url of urls) log.info({ url }, 'local inference API listening');
  return Object.freeze({
    url: urls[0] as string,
    urls,
    port,
    socketPath,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      http.closeAllConnections();
      await Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    },
  });
}
