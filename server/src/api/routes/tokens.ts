import {
  asError,
  EdgefleetError,
  enrollTokenCreatedSchema,
  enrollTokenCreateSchema,
  enrollTokenListSchema,
  enrollTokenViewSchema,
  idParamsSchema,
  tokenCreatedSchema,
  tokenCreateSchema,
  tokenListSchema,
  tokenViewSchema,
  whoamiSchema,
} from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** Admin tokens and enrollment tokens. Token strings appear once, in the create response. */
export function tokenRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/whoami',
      tag: 'tokens',
      scope: 'read',
      summary:
        "The calling token's id, name and scope (the console hides what a read token may not do); `auth: open` when " +
        'auth is off.',
      response: whoamiSchema,
      handler: async ({ auth }) => {
        if (auth.kind === 'open') return { auth: 'open' as const, tokenId: null, name: null, scope: 'admin' as const };
        const name = (await deps.auth.listAdminTokens()).find((t) => t.id === auth.tokenId)?.name ?? null;
        return { auth: 'token' as const, tokenId: auth.tokenId, name, scope: auth.scope };
      },
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/tokens',
      tag: 'tokens',
      scope: 'admin',
      summary: 'List admin tokens (ids, names, scopes, last use; never the tokens).',
      response: tokenListSchema,
      handler: async () => ({ tokens: await deps.auth.listAdminTokens() }),
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/tokens',
      tag: 'tokens',
      scope: 'admin',
      status: 201,
      summary: 'Create an admin token; the response is the only time the token is shown.',
      body: tokenCreateSchema,
      response: tokenCreatedSchema,
      handler: ({ body }) => deps.auth.createAdminToken(body.name, body.scope),
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/tokens/:id/revoke',
      tag: 'tokens',
      scope: 'admin',
      summary: 'Revoke an admin token; requests with it fail with EF_ERR_AUTH_INVALID from then on.',
      params: idParamsSchema,
      response: tokenViewSchema,
      errors: ['EF_ERR_TOKEN_NOT_FOUND'],
      handler: ({ params }) => deps.auth.revokeAdminToken(params.id),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/enroll-tokens',
      tag: 'enrollment',
      scope: 'read',
      summary: 'List enrollment tokens with their class, uses and expiry.',
      response: enrollTokenListSchema,
      handler: async () => ({ enrollTokens: await deps.auth.listEnrollTokens() }),
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/enroll-tokens',
      tag: 'enrollment',
      scope: 'admin',
      status: 201,
      summary: 'Create an enrollment token for a device class (max uses, lifetime); shown once.',
      body: enrollTokenCreateSchema,
      response: enrollTokenCreatedSchema,
      handler: async ({ body }) => {
        const created = await deps.auth.createEnrollToken(body);
        try {
          // An external broker with dynamic security learns the token now; agents may connect at once.
          await deps.brokerCredentials().enrollTokenCreated(created.id, created.token);
        } catch (err: unknown) {
          await deps.auth.revokeEnrollToken(created.id);
          throw new EdgefleetError(
            'EF_ERR_BROKER_CONNECT',
            `the broker did not accept the enrollment token, so none was created (${asError(err).message}); ` +
              'check the broker and try again',
            {},
            { cause: err },
          );
        }
        return created;
      },
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/enroll-tokens/:id/revoke',
      tag: 'enrollment',
      scope: 'admin',
      summary: 'Revoke an enrollment token; agents using it are refused.',
      params: idParamsSchema,
      response: enrollTokenViewSchema,
      errors: ['EF_ERR_TOKEN_NOT_FOUND'],
      handler: async ({ params }) => {
        const revoked = await deps.auth.revokeEnrollToken(params.id);
        await deps
          .brokerCredentials()
          .enrollTokenRetired(params.id)
          .catch((err: unknown) =>
            deps.logger.warn(
              { err, tokenId: params.id },
              'broker did not drop the revoked token yet; the sweep retries',
            ),
          );
        return revoked;
      },
    }),
  ];
}
