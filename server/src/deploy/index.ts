/** The deployer: artifacts, signing keys, chunk server, manifests and rollouts. */
export { ARTIFACTS_DIR, createArtifactStore, type PutOutcome, type ServerArtifactStore } from './artifact-store.js';
export { createChunkServer, type ChunkServer, type ChunkServerStats } from './chunk-server.js';
export {
  createDeployService,
  DEPLOY_FILTERS,
  type DeployService,
  type DeployServiceOptions,
} from './deploy-service.js';
export { createDownloadSlots, type DownloadSlots } from './download-slots.js';
export { startHttpArtifactServer, type HttpArtifactServer } from './http-artifacts.js';
export { buildDesired, clearDesired, publishDesired } from './manifest.js';
export {
  abortReason,
  applyReport,
  decide,
  decideAbort,
  markAborted,
  outcomeCounts,
  ROLLOUT_STEPS,
  type RolloutAction,
  type RolloutDecision,
  type RolloutSnapshot,
} from './rollout-machine.js';
export * from './rollout-model.js';
export {
  createRolloutService,
  type RolloutEvent,
  type RolloutService,
  type RolloutStatus,
  type StartRolloutInput,
} from './rollout-service.js';
export { KEYS_DIR, loadSigningKeyring, rotateSigningKey, type SigningKeyring } from './signing-keys.js';
export { rolloutStatusOf } from './rollout-status.js';
