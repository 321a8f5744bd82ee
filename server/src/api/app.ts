import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { EdgefleetError, isEdgefleetError, asError, errnoCode, type ErrorCode } from '@edgefleet/shared';
import { createRateLimiter, type RateLimit } from '../auth/rate-limit.js';
import { registerConsole } from './console.js';
import type { ApiDeps } from './deps.js';
import { createLabelledCounter } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { rawRoute, type AnyJsonRoute, type AnyRoute, type RequestAuth } from './route.js';
import { ROUTE_AREAS } from './routes/index.js';

export interface ApiServerOptions {
  /** Check admin tokens (auth.enabled). false: every route is open. */
  readonly enforceAuth: boolean;
  /** Requests per admin token (or per address when none is given). */
  readonly rateLimit: RateLimit;
  /** PEM cert and key: serve HTTPS. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Largest request body, bytes. Default 64 KiB (model uploads set their own per route). */
  readonly bodyLimitBytes?: number;
  /**
   * Folder of the built web console served under `/ui` (see console.ts); null answers EF_ERR_CONSOLE_NOT_BUILT there.
   */
  readonly consoleDir?: string | null;
}

export interface ApiServer {
  readonly app: FastifyInstance;
  readonly routes: readonly AnyRoute[];
  /** Listens; resolves with the base URL (`http://127.0.0.1:<port>` for loopback use). */
  listen(port: number, host: string): Promise<{ readonly url: string; readonly port: number }>;
  close(): Promise<void>;
}

function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .status(new EdgefleetError(code, message).status)
    .type('application/json')
    .send({ code, message, details });
}

function validationError(where: string, error: z.ZodError): EdgefleetError {
  const issues = error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return new EdgefleetError(
    'EF_ERR_API_VALIDATION',
    `invalid request ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues },
  );
}

function parsePart<S extends z.ZodType | undefined>(schema: S, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!result.success) throw validationError(where, result.error);
  return result.data;
}

/** The admin HTTP API (fastify). Routes come from ROUTE_AREAS; /openapi.json describes them. */
export function createApiServer(deps: ApiDeps, options: ApiServerOptions): ApiServer {
  const log = deps.logger;
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    // SSE streams are hijacked long-lived responses; close them with the server.
    forceCloseConnections: true,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
  });
  // Model uploads arrive as raw bytes; each route sets its own size limit.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  const limiter = createRateLimiter(options.rateLimit, deps.now);
  const requests = createLabelledCounter(
    'edgefleet_api_requests_total',
    'Admin API requests by method, route and status code.',
  );
  deps.metrics.register(() => [requests.family()]);
  const auths = new WeakMap<FastifyRequest, RequestAuth>();

  async function authenticate(route: AnyRoute, request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : null;
    // Checked even with auth off: the server's local token still marks a caller on this host.
    const check = bearer ? await deps.auth.verifyAdminToken(bearer) : null;
    // Rate-limit per token when it is valid, per address otherwise, so a bad-token flood is limited too.
    const waitMs = limiter.take(check?.ok ? `token:${check.tokenId}` : `ip:${request.ip}`);
    if (waitMs > 0)
      throw new EdgefleetError('EF_ERR_API_RATE_LIMITED', `too many requests; retry in ${Math.ceil(waitMs / 1000)} s`, {
        retryAfterS: Math.ceil(waitMs / 1000),
      });
    if (route.scope === 'public' || !options.enforceAuth)
      return void auths.set(
        request,
        check?.ok ? { kind: 'token', tokenId: check.tokenId, scope: check.scope } : { kind: 'open' },
      );
    if (!bearer)
      throw new EdgefleetError(
        'EF_ERR_AUTH_MISSING',
        'this route needs an admin token: send `Authorization: Bearer <token>` (create one with `edgefleet token ' +
          'create` on the server host)',
      );
    if (!check?.ok)
      throw new EdgefleetError(
        'EF_ERR_AUTH_INVALID',
        'the admin token is unknown, malformed or revoked; create a new one with `edgefleet token create`',
      );
    if (route.scope === 'admin' && check.scope !== 'admin')
      throw new EdgefleetError(
        'EF_ERR_AUTH_FORBIDDEN',
        `this route needs an admin-scope token; token ${check.tokenId} is read-only`,
        { tokenId: check.tokenId },
      );
    auths.set(request, { kind: 'token', tokenId: check.tokenId, scope: check.scope });
  }

  async function runJson(route: AnyJsonRoute, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const ctx = {
      params: parsePart(route.params, request.params, 'params'),
      query: parsePart(route.query, request.query, 'query'),
      body: parsePart(route.body, request.body, 'body'),
      auth: auths.get(request) ?? { kind: 'open' as const },
      request,
    };
    const result: unknown = await route.handler(ctx);
    const checked = route.response.safeParse(result);
    if (!checked.success) {
      // A response that breaks its own schema is our bug; say so rather than send it.
      log.error({ route: route.url, issues: checked.error.issues.slice(0, 5) }, 'API response failed its schema');
      throw new EdgefleetError('EF_ERR_API_INTERNAL', 'the server produced an invalid response; see the server log');
    }
    await reply.status(route.statusFor ? route.statusFor(checked.data) : (route.status ?? 200)).send(checked.data);
  }

  const routes: AnyRoute[] = [];
  const openApiRoute = rawRoute({
    method: 'GET',
    url: '/openapi.json',
    tag: 'meta',
    scope: 'public',
    produces: 'application/json',
    summary: 'This OpenAPI 3.0 document, generated from the zod schemas in shared/.',
    async handle(_request, reply) {
      await reply.type('application/json').send(openApi);
    },
  });
  for (const area of ROUTE_AREAS) routes.push(...area(deps));
  routes.push(openApiRoute);
  const openApi = buildOpenApi(routes, deps.version);

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      ...(route.kind === 'json' && route.bodyLimitBytes !== undefined ? { bodyLimit: route.bodyLimitBytes } : {}),
      onRequest: async (request) => authenticate(route, request),
      handler: async (request, reply) => {
        if (route.kind === 'raw') {
          if (route.query) parsePart(route.query, request.query, 'query');
          return route.handle(request, reply, auths.get(request) ?? { kind: 'open' });
        }
        return runJson(route, request, reply);
      },
    });
  }

  registerConsole(app, options.consoleDir ?? null);

  app.addHook('onResponse', async (request, reply) => {
    requests.inc({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(
      reply,
      'EF_ERR_API_NOT_FOUND',
      `no route ${request.method} ${request.url.split('?')[0]}; GET /openapi.json lists the routes`,
      { method: request.method },
    );
  });
  app.setErrorHandler((err: unknown, request, reply) => {
    if (isEdgefleetError(err)) {
      if (err.code === 'EF_ERR_API_RATE_LIMITED')
        void reply.header('retry-after', String(err.details['retryAfterS'] ?? 1));
      return sendError(reply, err.code, err.message, { ...err.details });
    }
    const fastifyError = err as { statusCode?: number; code?: string; message?: string };
    // fastify's own 4xx (bad JSON, body too large, wrong content type) are request problems.
    if (
      typeof fastifyError.statusCode === 'number' &&
      fastifyError.statusCode >= 400 &&
      fastifyError.statusCode < 500
    ) {
      if (fastifyError.statusCode === 413) {
        const limit = request.routeOptions.bodyLimit ?? options.bodyLimitBytes ?? 64 * 1024;
        return sendError(
          reply,
          'EF_ERR_API_TOO_LARGE',
          `the request body is larger than this route accepts (${limit} bytes)`,
          { limitBytes: limit },
        );
      }
      return sendError(reply, 'EF_ERR_API_VALIDATION', `invalid request: ${fastifyError.message ?? 'rejected'}`, {
        fastifyCode: fastifyError.code ?? null,
      });
    }
    log.error({ err, route: request.routeOptions.url }, 'API request failed');
    return sendError(reply, 'EF_ERR_API_INTERNAL', 'the request failed inside the server; see the server log');
  });

  return {
    app,
    routes,
    async listen(port, host) {
      try {
        await app.listen({ port, host });
      } catch (err: unknown) {
        const errno = errnoCode(err);
        const hint = errno === 'EADDRINUSE' ? '; pick another --api-port (0 = any free port, -1 = no API)' : '';
        throw new EdgefleetError(
          'EF_ERR_API_LISTEN',
          `admin API cannot listen on ${host}:${port}: ${asError(err).message}${hint}`,
          { port, host, errno: errno ?? null },
          { cause: err },
        );
      }
      const address = app.server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      return { url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${bound}`, port: bound };
    },
    close: () => app.close(),
  };
}
