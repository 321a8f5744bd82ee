/**
 * An agent data directory seeded as if the agent had installed mnist-cnn (or another model) (artifact, signed
 * manifest with a one-row golden set, last-known-good pointer), so a device serves it from
 * its first second without a server.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openArtifactStore } from '@edgefleet/agent';
import { buildDesired } from '@edgefleet/server/deploy/index';
import { createManifestSigner, describeArtifact, generateSigningKeyPem } from '@edgefleet/shared';
import { REPO_ROOT } from './spawn-ts.js';

export const MNIST_CNN = join(REPO_ROOT, 'models', 'zoo', 'mnist-cnn.onnx');

/** A deterministic 28×28 input in [0, 1). */
export function mnistInput(): Float32Array {
  let a = 7;
  return Float32Array.from({ length: 784 }, () => {
    a = (a * 1103515245 + 12345) >>> 0;
    return (a >>> 8) / 16777216;
  });
}

/** Seeds `dataDir` with mnist-cnn; resolves with the model's sha256. */
export async function seedMnistCnn(dataDir: string, deviceId: string): Promise<string> {
  return seedModel(dataDir, deviceId, readFileSync(MNIST_CNN), {
    name: 'input',
    dims: [1, 1, 28, 28],
    data: mnistInput(),
  });
}

/** Seeds `dataDir` with any model and a one-row golden set; resolves with the model's sha256. */
export async function seedModel(
  dataDir: string,
  deviceId: string,
  model: Uint8Array,
  goldenRow: { readonly name: string; readonly dims: readonly number[]; readonly data: Float32Array },
): Promise<string> {
  const store = await openArtifactStore(dataDir);
  const layout = describeArtifact(model);
  const tmp = join(dataDir, 'seed.onnx');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(tmp, model);
  await store.adopt(layout.sha256, tmp);
  const input = goldenRow.data;
  const golden = {
    inputs: {
      [goldenRow.name]: {
        dims: [...goldenRow.dims],
        data: Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64'),
      },
    },
    labels: [0],
    minAccuracy: 0,
  };
  const desired = buildDesired(createManifestSigner(generateSigningKeyPem()), {
    deviceId,
    deviceClass: 'rpi4',
    deploymentId: 'seed',
    rolloutId: 'seed',
    purpose: 'rollout',
    variantId: 'mnist-cnn',
    layout,
    golden,
    budgets: null,
    previous: null,
    issuedAt: Date.now(),
  });
  const pointer = { sha256: layout.sha256, variantId: 'mnist-cnn', deploymentId: 'seed', desired };
  await store.saveState({ current: pointer, lastKnownGood: pointer, previous: null, outcomes: [] });
  return layout.sha256;
}
