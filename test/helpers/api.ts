/**
 * Helpers for admin API route tests: a started server with auth on, an admin and a read
 * token, `call` through fastify's inject, and `expectError` checking {code, message, details}.
 */
import type { SearchRunner } from '@edgefleet/server/plan/search-jobs';
import type { Test } from 'tap';
import { apiErrorSchema, ERROR_CATALOGUE, type ErrorCode } from '@edgefleet/shared';
import type { EdgefleetServer } from '@edgefleet/server';
import type { Clock } from '@edgefleet/shared';
import { makeAuthServer } from './auth.js';

export interface ApiResult {
  readonly status: number;
  readonly body: Record<string, unknown> & { [k: string]: unknown };
}
export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface ApiHarness {
  readonly server: EdgefleetServer;
  readonly admin: string;
  readonly reader: string;
  call(
    method: Method,
    url: string,
    token: string | null,
    payload?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResult>;
  expectError(t: Test, res: ApiResult, code: ErrorCode): void;
}

export async function startApi(
  t: Test,
  flags: Record<string, unknown> = {},
  options: { clock?: Clock; searchRunner?: SearchRunner } = {},
): Promise<ApiHarness> {
  const server = makeAuthServer(t.testdir(), flags, options);
  t.teardown(() => server.stop());
  await server.start();
  const app = server.api()!.app;
  const admin = (await server.auth().createAdminToken('admin', 'admin')).token;
  const reader = (await server.auth().createAdminToken('reader', 'read')).token;
  return {
    server,
    admin,
    reader,
    async call(method, url, token, payload, headers = {}) {
      const res = await app.inject({
        method,
        url,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        ...(payload === undefined ? {} : { payload: payload as string }),
      });
      const json = res.headers['content-type']?.toString().includes('json');
      return { status: res.statusCode, body: json ? (res.json() as Record<string, unknown>) : { text: res.body } };
    },
    expectError(t, res, code) {
      t.equal(res.status, ERROR_CATALOGUE[code].status, `${code} → HTTP ${ERROR_CATALOGUE[code].status}`);
      t.ok(apiErrorSchema.safeParse(res.body).success, 'body is {code, message, details}');
      t.equal(res.body['code'], code, `code ${code}`);
    },
  };
}
