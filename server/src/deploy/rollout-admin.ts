/**
 * Rollouts from another process on the same data directory (the CLI without `--api`): it
 * writes the rollout (or an abort request) into the store, and the running server's next
 * evaluation tick acts on it. Nothing here touches the broker.
 */
import { readFileSync } from 'node:fs';
import { EdgefleetError, goldenSetSchema, asError, type GoldenSet } from '@edgefleet/shared';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import { openStore, type Store } from '../store/sqlite/open.js';
import { createArtifactStore } from './artifact-store.js';
import type { RolloutPolicyInput } from './rollout-model.js';
import { createRolloutService, type RolloutService, type RolloutStatus } from './rollout-service.js';

export interface RolloutAdmin {
  readonly rollouts: Pick<RolloutService, 'status' | 'list' | 'requestAbort'>;
  /** Starts a rollout of `--variant` (sha256 or a unique prefix of a stored artifact) or `--model` (a file). */
  start(input: {
    deviceClass: string;
    variant?: string;
    modelFile?: string;
    goldenFile: string;
    policy: RolloutPolicyInput;
  }): Promise<RolloutStatus>;
  close(): void;
}

/** Reads a golden set JSON file [EF-PROTO 6.5]. */
export function readGoldenFile(path: string): GoldenSet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_ROLLOUT_INVALID',
      `cannot read golden set ${path}: ${asError(err).message}`,
      { path },
      { cause: err },
    );
  }
  const parsed = goldenSetSchema.safeParse(json);
  if (!parsed.success)
    throw new EdgefleetError('EF_ERR_ROLLOUT_INVALID', `golden set ${path}: ${z.prettifyError(parsed.error)}`, {
      path,
    });
  return parsed.data;
}

export function openRolloutAdmin(options: {
  readonly dataDir: string;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly readonly?: boolean;
}): RolloutAdmin {
  const now = options.now ?? Date.now;
  const store: Store = openStore({ dataDir: options.dataDir, ...(options.readonly ? { readonly: true } : {}) });
  const artifacts = createArtifactStore({ dataDir: options.dataDir, tables: store.rollouts, now });
  const service = createRolloutService({
    store,
    artifacts,
    actor: { act: () => Promise.resolve([]) },
    logger: options.logger,
    now,
    random: Math.random,
  });
  return {
    rollouts: service,
    async start(input) {
      const golden = readGoldenFile(input.goldenFile);
      let artifact: { sha256: string } | { bytes: Uint8Array };
      if (input.modelFile !== undefined) {
        try {
          artifact = { bytes: readFileSync(input.modelFile) };
        } catch (err: unknown) {
          throw new EdgefleetError(
            'EF_ERR_ROLLOUT_INVALID',
            `cannot read model ${input.modelFile}: ${asError(err).message}`,
            {},
            { cause: err },
          );
        }
      } else {
        const found = artifacts.find(input.variant ?? '');
        if (found.length !== 1)
          throw new EdgefleetError(
            'EF_ERR_ROLLOUT_INVALID',
            `--variant ${input.variant ?? ''} matches ${found.length} stored artifacts; give more hex digits of its sha256, or use --model FILE`,
          );
        artifact = { sha256: found[0] as string };
      }
      return service.start({ deviceClass: input.deviceClass, artifact, golden, policy: input.policy, deferred: true });
    },
    close: () => store.close(),
  };
}
