import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { ErrorCode, TokenScope } from '@edgefleet/shared';
import { LOCAL_TOKEN_ID } from '../auth/service.js';

/** Who may call a route: anyone (health), a `read` token (GETs), or an `admin` token. */
export type RouteScope = 'public' | TokenScope;

/** The caller, as the auth hook established it. */
export type RequestAuth =
  | { readonly kind: 'token'; readonly tokenId: string; readonly scope: TokenScope }
  /** Auth switched off (`auth.enabled: false`), or a public route. */
  | { readonly kind: 'open' };

/**
 * Whether the caller presented the server's process-local token (from its runtime file in the
 * data directory), so it runs on the server's host and may name paths there.
 */
export function isLocalCaller(auth: RequestAuth): boolean {
  return auth.kind === 'token' && auth.tokenId === LOCAL_TOKEN_ID;
}

/** Handlers may return the server's readonly records: the response schema checks them at run time anyway. */
type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteContext<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly auth: RequestAuth;
  readonly request: FastifyRequest;
}

interface RouteBase {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** fastify path, e.g. `/v1/devices/:id`. */
  readonly url: string;
  readonly summary: string;
  /** OpenAPI tag: the area that owns the route. */
  readonly tag: string;
  readonly scope: RouteScope;
  /** Error codes this route can answer with besides validation/auth/rate-limit (documented in OpenAPI). */
  readonly errors?: readonly ErrorCode[];
}

/**
 * A JSON route described by zod schemas from `shared/`: the same schemas validate requests
 * (and responses, so the OpenAPI document cannot drift from what is sent) and produce
 * `/openapi.json`.
 */
export interface JsonRoute<
  P extends z.ZodType | undefined,
  Q extends z.ZodType | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType,
> extends RouteBase {
  readonly kind: 'json';
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly response: R;
  /** Success status. Default 200. */
  readonly status?: number;
  /** Request body content type. Default `application/json`; `application/octet-stream` hands the handler a Buffer. */
  readonly consumes?: 'application/json' | 'application/octet-stream';
  /** Largest request body for this route, bytes (default: the server's `bodyLimitBytes`). */
  readonly bodyLimitBytes?: number;
  /** Picks the status from the result instead (e.g. readiness answers 503 with the same body). */
  readonly statusFor?: (result: z.output<R>) => number;
  handler(
    ctx: RouteContext<Infer<P>, Infer<Q>, Infer<B>>,
  ): Promise<DeepReadonly<z.input<R>>> | DeepReadonly<z.input<R>>;
}

/** A route that writes its own response (SSE stream, Prometheus text, the OpenAPI document). */
export interface RawRoute extends RouteBase {
  readonly kind: 'raw';
  /** Content type, for the OpenAPI document. */
  readonly produces: string;
  readonly query?: z.ZodType;
  handle(request: FastifyRequest, reply: FastifyReply, auth: RequestAuth): Promise<void> | void;
}

// The one escape hatch, kept inside this module: the registry stores routes of any shape
// (heterogeneous by design); each route is typed where it is built.
// biome-ignore lint/suspicious/noExplicitAny: see above
export type AnyJsonRoute = JsonRoute<any, any, any, z.ZodType>;
export type AnyRoute = AnyJsonRoute | RawRoute;

/** Identity function that makes TypeScript infer the route's schema types. */
export function jsonRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType = z.ZodType,
>(route: Omit<JsonRoute<P, Q, B, R>, 'kind'>): AnyJsonRoute {
  return { ...route, kind: 'json' } as AnyJsonRoute;
}

export function rawRoute(route: Omit<RawRoute, 'kind'>): RawRoute {
  return { ...route, kind: 'raw' };
}
