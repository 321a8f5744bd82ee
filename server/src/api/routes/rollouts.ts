import type { z } from 'zod';
import {
  deviceDeploymentsSchema,
  EdgefleetError,
  GOLDEN_BODY_LIMIT_BYTES,
  type GoldenSet,
  idParamsSchema,
  rolloutAbortSchema,
  rolloutListQuerySchema,
  rolloutListSchema,
  rolloutStartSchema,
  rolloutStatusSchema,
  stripUndefined,
} from '@edgefleet/shared';
import { rolloutPolicySchema, ROLLOUT_STATES } from '../../deploy/rollout-model.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** The golden set of the class's latest rollout: what a start without one reuses (as the control loop does). */
async function latestGoldenOf(deps: ApiDeps, deviceClass: string): Promise<GoldenSet> {
  const last = (await deps.rollouts.list({ deviceClass })).at(-1);
  if (!last)
    throw new EdgefleetError(
      'EF_ERR_ROLLOUT_INVALID',
      `class ${deviceClass} has had no rollout yet, so there is no golden set to reuse; ` +
        'send `golden` (CLI: --golden auto, mnist:N, a sample directory or a JSON file)',
      { deviceClass },
    );
  return last.golden;
}

/** A device's model history: every rollout it took part in, newest first. */
async function deviceDeployments(deps: ApiDeps, deviceId: string) {
  return (await deps.rollouts.history(deviceId)).map(({ rollout, device }) => ({
    rolloutId: rollout.id,
    deviceClass: rollout.deviceClass,
    variantId: rollout.variantId,
    artifactSha: rollout.artifactSha,
    rolloutState: rollout.state,
    rolloutReason: rollout.reason,
    wave: device.wave,
    state: device.state,
    previousVariantId: device.previous?.variantId ?? null,
    failure: device.failure,
    startedAt: rollout.createdAt,
    notifiedAt: device.notifiedAt,
    finishedAt: device.finishedAt,
  }));
}

/** Staged rollouts: start, list, status (per-wave counts, per-device states), abort; thin over server/src/deploy. */
export function rolloutRoutes(deps: ApiDeps): AnyRoute[] {
  const { rollouts } = deps;
  deps.metrics.register(async () => {
    const counts = new Map<string, number>(ROLLOUT_STATES.map((s) => [s, 0]));
    for (const r of await rollouts.list()) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
    return [
      {
        name: 'edgefleet_rollouts',
        help: 'Rollouts in the store, by state.',
        type: 'gauge',
        samples: [...counts].map(([state, value]) => ({ labels: { state }, value })),
      },
    ];
  });
  return [
    jsonRoute({
      method: 'POST',
      url: '/v1/rollouts',
      tag: 'rollouts',
      scope: 'admin',
      status: 201,
      summary:
        'Start a rollout of a stored variant (artifact sha256 or prefix) to a class: canary first, then growing ' +
        "waves, abort criteria, rollback. Without `golden`, the class's latest rollout's golden set is reused. The " +
        "golden set is run against the variant on the server's host first (input names, dims, outputs, " +
        'minAccuracy); one it does not fit or pass is refused with EF_ERR_ROLLOUT_INVALID.',
      body: rolloutStartSchema,
      response: rolloutStatusSchema,
      // The largest golden set the schema accepts fits (shared/src/golden.ts),
      // so its own limit, stated in rows, speaks first.
      bodyLimitBytes: GOLDEN_BODY_LIMIT_BYTES,
      errors: ['EF_ERR_ROLLOUT_INVALID', 'EF_ERR_ROLLOUT_CONFLICT'],
      handler: async ({ body }) => {
        // The policy's own schema lives with the deployer; report its problems as body fields.
        const policy = rolloutPolicySchema.safeParse(body.policy);
        if (!policy.success) {
          const issues = policy.error.issues.map((i) => ({
            path: ['body', 'policy', ...i.path.map(String)].join('.'),
            message: i.message,
          }));
          throw new EdgefleetError(
            'EF_ERR_API_VALIDATION',
            `invalid request body: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
            { issues },
          );
        }
        const found = deps.artifacts.find(body.variant);
        if (found.length !== 1) {
          throw new EdgefleetError(
            'EF_ERR_ROLLOUT_INVALID',
            `variant ${body.variant} matches ${found.length} stored artifacts; give more hex digits of its sha256 ` +
              `(GET /v1/models/{sha}/variants lists them)`,
            { variant: body.variant, matches: found.length },
          );
        }
        const artifactSha = found[0] as string;
        const golden = body.golden ?? (await latestGoldenOf(deps, body.deviceClass));
        // Refused here, at once, rather than by every canary's smoke test (issue 21).
        await deps.golden.check(artifactSha, golden);
        const status = await rollouts.start({
          deviceClass: body.deviceClass,
          artifact: { sha256: artifactSha },
          golden,
          policy: body.policy as z.input<typeof rolloutPolicySchema>,
          ...stripUndefined({ deviceIds: body.deviceIds, variantId: body.variantId }),
        });
        deps.logger.info(
          { rolloutId: status.rollout.id, deviceClass: body.deviceClass, artifactSha: status.rollout.artifactSha },
          'rollout started through the API',
        );
        return status;
      },
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/rollouts',
      tag: 'rollouts',
      scope: 'read',
      summary: 'Rollouts, optionally of one class or only active ones (in progress or rolling back).',
      query: rolloutListQuerySchema,
      response: rolloutListSchema,
      handler: async ({ query }) => ({
        rollouts: await rollouts.list({
          ...(query.class ? { deviceClass: query.class } : {}),
          ...(query.active ? { active: query.active === 'true' } : {}),
        }),
      }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/rollouts/:id',
      tag: 'rollouts',
      scope: 'read',
      summary: "A rollout: state, per-wave counts by device state, every device's state and failure, outcome counts.",
      params: idParamsSchema,
      response: rolloutStatusSchema,
      errors: ['EF_ERR_ROLLOUT_NOT_FOUND'],
      handler: ({ params }) => rollouts.status(params.id),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/devices/:id/deployments',
      tag: 'rollouts',
      scope: 'read',
      summary:
        "A device's model history: every rollout (and rollback) it took part in, newest first, with its state there " +
        'and why it failed.',
      params: idParamsSchema,
      response: deviceDeploymentsSchema,
      errors: ['EF_ERR_DEVICE_NOT_FOUND'],
      handler: async ({ params }) => {
        if (!(await deps.registry.get(params.id)) && !(await deps.auth.credential(params.id)))
          throw new EdgefleetError('EF_ERR_DEVICE_NOT_FOUND', `no device ${params.id}; GET /v1/devices lists them`, {
            id: params.id,
          });
        return { deviceId: params.id, deployments: await deviceDeployments(deps, params.id) };
      },
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/rollouts/:id/abort',
      tag: 'rollouts',
      scope: 'admin',
      summary:
        'Abort a rollout in progress: no further waves; devices already updated roll back (at once, or when the ' +
        'server next runs if the abort was recorded without one).',
      params: idParamsSchema,
      body: rolloutAbortSchema,
      response: rolloutStatusSchema,
      errors: ['EF_ERR_ROLLOUT_NOT_FOUND', 'EF_ERR_ROLLOUT_CONFLICT'],
      handler: ({ params, body }) => rollouts.abort(params.id, body.reason),
    }),
  ];
}
