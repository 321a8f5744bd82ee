import { z } from 'zod';
import { apiErrorSchema, ERROR_CATALOGUE, type ErrorCode } from '@edgefleet/shared';
import type { AnyRoute } from './route.js';

type JsonSchema = Record<string, unknown>;

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // OpenAPI 3.0 has no $schema keyword and no draft-2020 tuples; zod targets it directly.
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** `/v1/devices/:id` → `/v1/devices/{id}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input');
  const properties = (json['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
  }));
}

const errorRef = { $ref: '#/components/schemas/ApiError' };

function errorResponses(route: AnyRoute): Record<string, JsonSchema> {
  const codes: ErrorCode[] = [...(route.errors ?? []), 'EF_ERR_API_RATE_LIMITED', 'EF_ERR_API_INTERNAL'];
  if (route.scope !== 'public') codes.push('EF_ERR_AUTH_MISSING', 'EF_ERR_AUTH_INVALID', 'EF_ERR_AUTH_FORBIDDEN');
  if (route.kind === 'raw' ? route.query : (route.params ?? route.query ?? route.body))
    codes.push('EF_ERR_API_VALIDATION');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes)
    byStatus.set(ERROR_CATALOGUE[code].status, [...(byStatus.get(ERROR_CATALOGUE[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: list.join(', '), content: { 'application/json': { schema: errorRef } } },
    ]),
  );
}

/** `GET /v1/classes/:name/status` → `getV1ClassesNameStatus`. */
function operationId(route: AnyRoute): string {
  const camel = route.url.replace(/[/:{}-]+(\w)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase());
  return `${route.method.toLowerCase()}${camel}`;
}

function operation(route: AnyRoute): JsonSchema {
  const op: JsonSchema = {
    summary: route.summary,
    tags: [route.tag],
    operationId: operationId(route),
    ...(route.scope === 'public' ? { security: [] } : { 'x-edgefleet-scope': route.scope }),
  };
  if (route.kind === 'raw') {
    op['parameters'] = parameters(route.query, 'query');
    op['responses'] = {
      200: { description: 'OK', content: { [route.produces]: { schema: { type: 'string' } } } },
      ...errorResponses(route),
    };
    return op;
  }
  op['parameters'] = [...parameters(route.params, 'path'), ...parameters(route.query, 'query')];
  if (route.body) {
    const binary = route.consumes === 'application/octet-stream';
    op['requestBody'] = {
      required: true,
      content: {
        [route.consumes ?? 'application/json']: {
          schema: binary
            ? { type: 'string', format: 'binary', maxLength: route.bodyLimitBytes }
            : toSchema(route.body, 'input'),
        },
      },
    };
  }
  op['responses'] = {
    [String(route.status ?? 200)]: {
      description: 'OK',
      content: { 'application/json': { schema: toSchema(route.response, 'output') } },
    },
    ...errorResponses(route),
  };
  return op;
}

/** The OpenAPI 3.0 document of every registered route, generated from the same zod schemas that validate them. */
export function buildOpenApi(routes: readonly AnyRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = openApiPath(route.url);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'edgefleet admin API',
      version,
      description:
        'Errors are {code, message, details} with codes from the edgefleet error catalogue (README, "Error codes"). ' +
        'Every route except /health and /ready needs `Authorization: Bearer <token>`; `read` tokens may call GET ' +
        'routes, `admin` tokens all of them.',
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'admin token from `edgefleet token create`' },
      },
      schemas: { ApiError: toSchema(apiErrorSchema, 'output') },
    },
    paths,
  };
}
