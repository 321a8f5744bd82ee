/**
 * Every admin API call the console makes, each decoded with the route's response schema
 * from shared/src/api. Pages call these; nothing else builds a URL.
 */
import {
  classBudgetStatusSchema,
  classListSchema,
  decisionListSchema,
  deviceDeploymentsSchema,
  deviceListSchema,
  deviceRevokedSchema,
  deviceTelemetrySchema,
  deviceViewSchema,
  goldenMadeSchema,
  modelListSchema,
  planListSchema,
  recentEventsSchema,
  rolloutListSchema,
  rolloutStatusSchema,
  whoamiSchema,
} from '@edgefleet/shared/api/index';
import { deviceClassSchema } from '@edgefleet/shared/budgets';
import { storedPlanSchema } from '@edgefleet/shared/plans';
import type { z } from 'zod';
import type { ApiClient } from './client.js';

const enc = encodeURIComponent;

export type DeviceView = z.output<typeof deviceViewSchema>;
export type DeviceClass = z.output<typeof deviceClassSchema>;
export type ClassStatus = z.output<typeof classBudgetStatusSchema>;
export type DeviceTelemetry = z.output<typeof deviceTelemetrySchema>;
export type TelemetryWindow = DeviceTelemetry['windows'][number];
export type DeviceDeployment = z.output<typeof deviceDeploymentsSchema>['deployments'][number];
export type StoredPlan = z.output<typeof storedPlanSchema>;
export type PlanCandidate = StoredPlan['plan']['candidates'][number];
export type RolloutRecord = z.output<typeof rolloutListSchema>['rollouts'][number];
export type RolloutStatus = z.output<typeof rolloutStatusSchema>;
export type Decision = z.output<typeof decisionListSchema>['decisions'][number];
export type Whoami = z.output<typeof whoamiSchema>;
export type ModelView = z.output<typeof modelListSchema>['models'][number];

/** What a console page may ask the server. */
export interface FleetApi {
  whoami(): Promise<Whoami>;
  devices(): Promise<DeviceView[]>;
  device(id: string): Promise<DeviceView>;
  /** Windows from `from` (server time, ms) on, at most `limit`. */
  telemetry(id: string, from: number, limit?: number): Promise<DeviceTelemetry>;
  deployments(id: string): Promise<DeviceDeployment[]>;
  revoke(id: string): Promise<z.output<typeof deviceRevokedSchema>>;
  classes(): Promise<z.output<typeof classListSchema>>;
  deviceClass(name: string): Promise<DeviceClass>;
  classStatus(name: string): Promise<ClassStatus>;
  decisions(name: string): Promise<Decision[]>;
  models(): Promise<ModelView[]>;
  plans(className: string): Promise<StoredPlan[]>;
  createPlan(model: string, className: string): Promise<StoredPlan>;
  rollouts(filter?: { deviceClass?: string }): Promise<RolloutRecord[]>;
  rollout(id: string): Promise<RolloutStatus>;
  startRollout(input: StartRollout): Promise<RolloutStatus>;
  /** `POST /v1/golden` from the variant's model's registered evaluation data, checked on the server's host. */
  makeGolden(variant: string): Promise<z.output<typeof goldenMadeSchema>>;
  abortRollout(id: string, reason: string): Promise<RolloutStatus>;
  recentEvents(limit: number): Promise<z.output<typeof recentEventsSchema>['events']>;
}

/** `POST /v1/rollouts` as the plan page sends it; no golden set means the class's latest is reused. */
export interface StartRollout {
  readonly deviceClass: string;
  readonly variant: string;
  readonly variantId?: string;
  readonly policy: { canary: { count: number }; baseCount: number; growthFactor: number };
  readonly golden?: unknown;
}

export function fleetApi(client: ApiClient): FleetApi {
  return {
    whoami: () => client.get('/v1/whoami', whoamiSchema),
    devices: async () => (await client.get('/v1/devices', deviceListSchema)).devices,
    device: (id) => client.get(`/v1/devices/${enc(id)}`, deviceViewSchema),
    telemetry: (id, from, limit = 1000) =>
      client.get(
        `/v1/devices/${enc(id)}/telemetry?limit=${limit}&from=${Math.max(0, Math.floor(from))}`,
        deviceTelemetrySchema,
      ),
    deployments: async (id) =>
      (await client.get(`/v1/devices/${enc(id)}/deployments`, deviceDeploymentsSchema)).deployments,
    revoke: (id) => client.post(`/v1/devices/${enc(id)}/revoke`, {}, deviceRevokedSchema),
    classes: () => client.get('/v1/classes', classListSchema),
    deviceClass: (name) => client.get(`/v1/classes/${enc(name)}`, deviceClassSchema),
    classStatus: (name) => client.get(`/v1/classes/${enc(name)}/status`, classBudgetStatusSchema),
    decisions: async (name) =>
      (await client.get(`/v1/classes/${enc(name)}/decisions?limit=500`, decisionListSchema)).decisions,
    models: async () => (await client.get('/v1/models', modelListSchema)).models,
    plans: async (className) => (await client.get(`/v1/plans?class=${enc(className)}`, planListSchema)).plans,
    createPlan: (model, className) => client.post('/v1/plans', { model, class: className }, storedPlanSchema),
    rollouts: async (filter = {}) =>
      (
        await client.get(
          `/v1/rollouts${filter.deviceClass ? `?class=${enc(filter.deviceClass)}` : ''}`,
          rolloutListSchema,
        )
      ).rollouts,
    rollout: (id) => client.get(`/v1/rollouts/${enc(id)}`, rolloutStatusSchema),
    startRollout: (input) => client.post('/v1/rollouts', input, rolloutStatusSchema),
    makeGolden: (variant) => client.post('/v1/golden', { variant, from: 'auto' }, goldenMadeSchema),
    abortRollout: (id, reason) => client.post(`/v1/rollouts/${enc(id)}/abort`, { reason }, rolloutStatusSchema),
    recentEvents: async (limit) => (await client.get(`/v1/events/recent?limit=${limit}`, recentEventsSchema)).events,
  };
}
