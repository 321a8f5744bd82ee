/**
 * Optional HTTP download of artifacts [EF-PROTO 6.3]: `GET /artifacts/<sha256>` sends the
 * same bytes the chunk server sends, from the same digest-checked cache (a damaged file is
 * answered 500 and never sent). Agents verify size and sha256 against the signed manifest,
 * so this route needs no trust of its own (put TLS in front for privacy).
 */
import { createServer, type Server } from 'node:http';
import { isEdgefleetError } from '@edgefleet/shared';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { ServerArtifactStore } from './artifact-store.js';

export interface HttpArtifactServer {
  /** `http://host:port`, the base the manifests' `url` uses. */
  readonly baseUrl: string;
  readonly served: () => number;
  close(): Promise<void>;
}

const ROUTE = /^\/artifacts\/([0-9a-f]{64})$/;

/** Listens on `host:port` (0 = any free port). */
export async function startHttpArtifactServer(options: {
  readonly artifacts: ServerArtifactStore;
  readonly host: string;
  readonly port: number;
  readonly publicHost?: string;
  readonly logger: Logger;
}): Promise<HttpArtifactServer> {
  let served = 0;
  const server: Server = createServer((req, res) => {
    const match = req.method === 'GET' ? ROUTE.exec(req.url ?? '') : null;
    const sha = match?.[1];
    if (!sha) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /artifacts/<sha256>\n');
      return;
    }
    // The bytes that travel (the encoded file when the layout has an encoding [EF-PROTO 6.3]),
    // from the same digest-checked cache the chunk server uses.
    options.artifacts.transferBytes(sha).then(
      (bytes) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) });
        served += 1;
        res.end(bytes);
      },
      (err: unknown) => {
        const damaged = isEdgefleetError(err, 'EF_ERR_ARTIFACT_INTEGRITY');
        res
          .writeHead(damaged ? 500 : 404, { 'content-type': 'text/plain' })
          .end(damaged ? `artifact ${sha} is damaged on the server\n` : `no artifact ${sha}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.publicHost ?? (options.host === '0.0.0.0' ? '127.0.0.1' : options.host);
  options.logger.info({ port }, 'HTTP artifact route listening');
  return {
    baseUrl: `http://${host}:${port}`,
    served: () => served,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
