import {
  deviceListQuerySchema,
  deviceListSchema,
  deviceRevokedSchema,
  deviceUpdateSchema,
  deviceViewSchema,
  EdgefleetError,
  idParamsSchema,
  type DeviceView,
} from '@edgefleet/shared';
import type { CredentialRow } from '../../store/auth.js';
import type { DeviceRecord } from '../../store/devices.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** Registry row and credential merged into the API's view of a device. */
export function toDeviceView(id: string, device: DeviceRecord | null, credential: CredentialRow | null): DeviceView {
  return {
    id,
    deviceClass: device?.deviceClass ?? credential?.deviceClass ?? null,
    state: device?.state ?? 'never-seen',
    stateReason: device?.stateReason ?? null,
    capabilities: device?.capabilities ?? null,
    agentVersion: device?.agentVersion ?? null,
    currentModel: device?.currentModel ?? null,
    firstSeen: device?.firstSeen ?? null,
    lastSeen: device?.lastSeen ?? null,
    credential: {
      status: credential === null ? 'none' : credential.revokedAt === null ? 'active' : 'revoked',
      enrolledAt: credential?.createdAt ?? null,
      revokedAt: credential?.revokedAt ?? null,
      enrollTokenId: credential?.enrollTokenId ?? null,
    },
  };
}

async function listViews(deps: ApiDeps): Promise<DeviceView[]> {
  const devices = new Map((await deps.registry.list()).map((d) => [d.id, d]));
  const credentials = new Map((await deps.auth.credentials()).map((c) => [c.deviceId, c]));
  const ids = [...new Set([...devices.keys(), ...credentials.keys()])].sort();
  return ids.map((id) => toDeviceView(id, devices.get(id) ?? null, credentials.get(id) ?? null));
}

/** Devices: list and show (state, capabilities, current model, credential), move to another class, revoke. */
export function deviceRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/devices',
      tag: 'devices',
      scope: 'read',
      summary: 'List devices (registered by hello, or holding a credential), optionally by class or state.',
      query: deviceListQuerySchema,
      response: deviceListSchema,
      handler: async ({ query }) => ({
        devices: (await listViews(deps)).filter(
          (d) =>
            (query.class === undefined || d.deviceClass === query.class) &&
            (query.state === undefined || d.state === query.state),
        ),
      }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/devices/:id',
      tag: 'devices',
      scope: 'read',
      summary: 'One device: state, capabilities, current model, credential status.',
      params: idParamsSchema,
      response: deviceViewSchema,
      errors: ['EF_ERR_DEVICE_NOT_FOUND'],
      handler: async ({ params }) => {
        const device = await deps.registry.get(params.id);
        const credential = await deps.auth.credential(params.id);
        if (!device && !credential)
          throw new EdgefleetError('EF_ERR_DEVICE_NOT_FOUND', `no device ${params.id}; GET /v1/devices lists them`, {
            id: params.id,
          });
        return toDeviceView(params.id, device, credential);
      },
    }),
    jsonRoute({
      method: 'PATCH',
      url: '/v1/devices/:id',
      tag: 'devices',
      scope: 'admin',
      summary:
        'Move a device to another class. Its credential is bound to the class from then on; a hello announcing ' +
        "another one is refused (class-mismatch). Takes effect in the registry at once; the agent's own " +
        'configured class should follow.',
      params: idParamsSchema,
      body: deviceUpdateSchema,
      response: deviceViewSchema,
      errors: ['EF_ERR_DEVICE_NOT_FOUND'],
      handler: async ({ params, body }) => {
        const bound = await deps.auth.bindDeviceClass(params.id, body.deviceClass);
        const moved = await deps.registry.setClass(params.id, body.deviceClass, deps.now());
        if (!bound && !moved)
          throw new EdgefleetError('EF_ERR_DEVICE_NOT_FOUND', `no device ${params.id}; GET /v1/devices lists them`, {
            id: params.id,
          });
        deps.logger.info({ deviceId: params.id, deviceClass: body.deviceClass }, 'device moved to another class');
        return toDeviceView(params.id, await deps.registry.get(params.id), await deps.auth.credential(params.id));
      },
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/devices/:id/revoke',
      tag: 'devices',
      scope: 'admin',
      summary:
        'Revoke a device credential: the device is disconnected and refused from then on (enroll it again to ' +
        'readmit it).',
      params: idParamsSchema,
      response: deviceRevokedSchema,
      errors: ['EF_ERR_DEVICE_NOT_FOUND'],
      handler: async ({ params }) => {
        const row = await deps.auth.revokeDevice(params.id);
        // The broker drops the connection (embedded: closed; dynamic security: client deleted, which kicks it).
        const disconnected = await deps.cutOff(params.id);
        deps.events.publish({ type: 'device.revoked', deviceId: params.id, disconnected });
        deps.logger.info({ deviceId: params.id, disconnected }, 'device credential revoked');
        return { id: params.id, revokedAt: row.revokedAt ?? deps.now(), disconnected };
      },
    }),
  ];
}
