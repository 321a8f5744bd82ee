import { mosquittoCredentialsSchema } from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** What an external broker needs from the server (`edgefleet broker-config mosquitto` writes it out). */
export function brokerRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/broker/mosquitto-credentials',
      tag: 'broker',
      scope: 'admin',
      summary:
        'The credentials for an external mosquitto: $7$ (PBKDF2-SHA512) hashes of the server, every active device ' +
        'and every live enrollment token, plus the payload limit its packet limit derives from.',
      response: mosquittoCredentialsSchema,
      handler: () => deps.mosquittoCredentials(),
    }),
  ];
}
