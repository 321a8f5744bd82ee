/**
 * Moves a serving model from its worker onto the agent's thread when the inline policy says
 * it may (inline-policy.ts), and back to a worker when the inline model dies.
 */
import type { Logger } from 'pino';
import { asError } from '@edgefleet/shared/device';
import { createInlineModel } from './inline-model.js';
import {
  medianRunMs,
  sameOutputs,
  withProven,
  writeInlineState,
  type InlinePolicy,
  type InlineState,
} from './inline-policy.js';
import type { ModelWorker } from './model-worker.js';
import type { FloatTensor } from './ort.js';
import type { ServingRuntime } from './serving.js';

export interface InlinePromotionDeps {
  readonly dataDir: string;
  readonly policy: InlinePolicy;
  readonly serving: ServingRuntime;
  readonly log: Logger;
  /** The on-disk record (refused models); updated in place by promote(). */
  state: InlineState;
  readonly intraOpNumThreads: number;
  /** The model's bytes from the artifact store. */
  readonly read: (sha256: string) => Promise<Uint8Array>;
  /** A batch-1 row of the golden set of the serving model (or of `sha256`), or null. */
  readonly sample: (sha256?: string) => Record<string, FloatTensor> | null;
  /** Wraps the inline model like every worker (the simulators' fault injection seam). */
  readonly wrap: (model: ModelWorker) => ModelWorker;
  /** Told when the inline model loses its watchdog (run-watchdog.ts): the device serves from a worker again. */
  readonly onLost: (sha256: string) => void;
}

/** Promotes what serves now to inline serving if it qualifies; resolves true when it did. */
export async function promoteInline(deps: InlinePromotionDeps): Promise<boolean> {
  const { serving, log, policy } = deps;
  const model = serving.current();
  if (model?.worker.kind !== 'worker' || policy.maxRunMs <= 0) return false;
  if (deps.state.refused.includes(model.sha256)) return false;
  const feeds = deps.sample();
  if (!feeds) return false;
  const probe = await medianRunMs(model.worker, feeds);
  if (probe.medianMs > policy.maxRunMs) {
    log.info(
      { sha256: model.sha256, medianMs: probe.medianMs, maxRunMs: policy.maxRunMs },
      'model serves from its worker (runs too long to serve on the agent thread)',
    );
    return false;
  }
  // Marked before the session exists on this thread: a crash from here on refuses the model at the next boot.
  deps.state = { ...deps.state, serving: model.sha256 };
  await writeInlineState(deps.dataDir, deps.state);
  let inline: ModelWorker | null = null;
  try {
    inline = deps.wrap(
      await createInlineModel(await deps.read(model.sha256), {
        intraOpNumThreads: deps.intraOpNumThreads,
        hangDeadlineMs: policy.hangDeadlineMs ?? 2000,
        label: model.sha256,
        onLost: () => deps.onLost(model.sha256),
      }),
    );
    const check = await inline.run(feeds);
    if (!sameOutputs(check.outputs, probe.outputs)) throw new Error('inline outputs differ from the worker’s');
    if (serving.current() !== model) throw new Error('another model started serving meanwhile');
  } catch (err: unknown) {
    await inline?.terminate();
    deps.state = { ...deps.state, serving: null };
    await writeInlineState(deps.dataDir, deps.state);
    log.warn({ err: { message: asError(err).message }, sha256: model.sha256 }, 'model stays in its worker');
    return false;
  }
  serving.switchTo({ ...model, worker: inline });
  await model.worker.terminate();
  deps.state = withProven(deps.state, model.sha256);
  await writeInlineState(deps.dataDir, deps.state);
  log.info({ sha256: model.sha256, medianMs: probe.medianMs }, 'serving the model on the agent thread');
  return true;
}

/**
 * At boot: loads a model that was promoted before straight onto the agent thread (marked
 * first, like a promotion), checked on one golden row for finite outputs. Null when the
 * model is not proven, is refused, or fails; the caller then serves it from a worker.
 */
export async function loadProvenInline(deps: InlinePromotionDeps, sha256: string): Promise<ModelWorker | null> {
  if (deps.policy.maxRunMs <= 0 || !deps.state.proven.includes(sha256) || deps.state.refused.includes(sha256))
    return null;
  const feeds = deps.sample(sha256);
  if (!feeds) return null;
  deps.state = { ...deps.state, serving: sha256 };
  await writeInlineState(deps.dataDir, deps.state);
  let inline: ModelWorker | null = null;
  try {
    inline = deps.wrap(
      await createInlineModel(await deps.read(sha256), {
        intraOpNumThreads: deps.intraOpNumThreads,
        hangDeadlineMs: deps.policy.hangDeadlineMs ?? 2000,
        label: sha256,
        onLost: () => deps.onLost(sha256),
      }),
    );
    const { outputs } = await inline.run(feeds);
    if (!Object.values(outputs).every((t) => t.data.every(Number.isFinite)))
      throw new Error('non-finite outputs on the golden row');
    deps.log.info({ sha256, proven: true }, 'serving the model on the agent thread');
    return inline;
  } catch (err: unknown) {
    await inline?.terminate();
    await clearInlineMark(deps);
    deps.log.warn({ err: { message: asError(err).message }, sha256 }, 'proven model did not load inline');
    return null;
  }
}

/** Clears the inline mark (clean stop, or the model left the agent thread). */
export async function clearInlineMark(deps: Pick<InlinePromotionDeps, 'dataDir' | 'state'>): Promise<void> {
  if (deps.state.serving === null) return;
  deps.state = { ...deps.state, serving: null };
  await writeInlineState(deps.dataDir, deps.state);
}
