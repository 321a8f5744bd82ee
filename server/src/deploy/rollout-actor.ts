/**
 * Carries out a rollout decision: builds, signs and publishes manifests, and clears desired
 * state. Idempotent: re-publishing a retained manifest with the same deployment id is what
 * `resume()` does after a restart, and the agent treats it as the same deployment.
 */
import type { ArtifactLayout, GoldenSet, ManifestSigner } from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import type { Logger } from '../log/logger.js';
import type { RolloutRepository } from '../store/rollouts.js';
import type { ServerArtifactStore } from './artifact-store.js';
import { buildDesired, clearDesired, publishDesired } from './manifest.js';
import type { RolloutAction } from './rollout-machine.js';
import type { RolloutRecord } from './rollout-model.js';
import { asError } from '@edgefleet/shared';

export interface RolloutActorOptions {
  readonly publish: BrokerClient['publish'];
  readonly signer: () => ManifestSigner;
  readonly artifacts: ServerArtifactStore;
  readonly rollouts: Pick<RolloutRepository, 'get' | 'findByDeployment'>;
  readonly logger: Logger;
  readonly now: () => number;
  /** Base URL of the optional HTTP artifact route (`…/artifacts/<sha>`), or null. */
  readonly artifactBaseUrl?: () => string | null;
}

export interface RolloutActor {
  /** Performs the actions; returns the rollback deployments that could not be built. */
  act(
    rollout: RolloutRecord,
    actions: readonly RolloutAction[],
  ): Promise<Array<{ deploymentId: string; detail: string }>>;
}

export function createRolloutActor(options: RolloutActorOptions): RolloutActor {
  const log = options.logger;
  const urlOf = (sha: string): { url?: string } => {
    const base = options.artifactBaseUrl?.() ?? null;
    return base === null ? {} : { url: `${base}/artifacts/${sha}` };
  };

  /**
   * Golden set for a rollback: the one its variant was rolled out with, else this rollout's inputs with only the
   * finiteness check.
   */
  async function rollbackGolden(
    rollout: RolloutRecord,
    previousRolloutId: string | null,
  ): Promise<{ golden: GoldenSet; budgets: RolloutRecord['budgets'] }> {
    const earlier = previousRolloutId === null ? null : await options.rollouts.get(previousRolloutId);
    if (earlier) return { golden: earlier.golden, budgets: earlier.budgets };
    return { golden: { ...rollout.golden, minAccuracy: 0 }, budgets: null };
  }

  return {
    async act(rollout, actions) {
      const failed: Array<{ deploymentId: string; detail: string }> = [];
      if (actions.length === 0) return failed;
      const signer = options.signer();
      let layout: ArtifactLayout | null = null;
      const sends = actions.map(async (action) => {
        try {
          if (action.kind === 'clear') return await clearDesired(options.publish, action.deviceId);
          if (action.kind === 'deploy') {
            layout ??= await options.artifacts.layout(rollout.artifactSha);
            const dev = await options.rollouts.findByDeployment(action.deploymentId);
            const previous = dev?.previous ? { variantId: dev.previous.variantId, sha256: dev.previous.sha256 } : null;
            return await publishDesired(
              options.publish,
              buildDesired(signer, {
                deviceId: action.deviceId,
                deviceClass: rollout.deviceClass,
                deploymentId: action.deploymentId,
                rolloutId: rollout.id,
                purpose: 'rollout',
                variantId: rollout.variantId,
                layout,
                golden: rollout.golden,
                budgets: rollout.budgets,
                previous,
                issuedAt: options.now(),
                ...urlOf(rollout.artifactSha),
              }),
            );
          }
          const prevLayout = await options.artifacts.layout(action.previous.sha256);
          const { golden, budgets } = await rollbackGolden(rollout, action.previous.rolloutId);
          return await publishDesired(
            options.publish,
            buildDesired(signer, {
              deviceId: action.deviceId,
              deviceClass: rollout.deviceClass,
              deploymentId: action.deploymentId,
              rolloutId: rollout.id,
              purpose: 'rollback',
              variantId: action.previous.variantId,
              layout: prevLayout,
              golden,
              budgets,
              previous: { variantId: rollout.variantId, sha256: rollout.artifactSha },
              issuedAt: options.now(),
              ...urlOf(action.previous.sha256),
            }),
          );
        } catch (err: unknown) {
          log.error({ err, rolloutId: rollout.id, action }, 'rollout action failed');
          if (action.kind === 'rollback')
            failed.push({ deploymentId: action.deploymentId, detail: asError(err).message });
          return undefined;
        }
      });
      await Promise.all(sends);
      return failed;
    },
  };
}
