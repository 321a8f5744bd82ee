/**
 * Moves a serving model from its worker onto the agent's thread when the inline policy says
 * it may (inline-policy.ts), and back to a worker when the inline model dies.
 */
import type { Logger } from 'pino';
import { createInlineModel } from './inline-model.js';
import { medianRunMs, sameOutputs, writeInlineState, type InlinePolicy, type InlineState } from './inline-policy.js';
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
  /** A batch-1 row of the serving model's golden set, or null. */
  readonly sample: () => Record<string, FloatTensor> | null;
  /** Wraps the inline model like every worker (fault injection seam) and wires its crash. */
  readonly wrap: (model: ModelWorker) => ModelWorker;
  /** Told when the inline model dies (fault injection): the device serves from a worker again. */
  readonly onCrash: (sha256: string) => void;
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
        onCrash: () => deps.onCrash(model.sha256),
      }),
    );
    const check = await inline.run(feeds);
    if (!sameOutputs(check.outputs, probe.outputs)) throw new Error('inline outputs differ from the worker’s');
    if (serving.current() !== model) throw new Error('another model started serving meanwhile');
  } catch (err: unknown) {
    await inline?.terminate();
    deps.state = { ...deps.state, serving: null };
    await writeInlineState(deps.dataDir, deps.state);
    log.warn({ err: { message: (err as Error).message }, sha256: model.sha256 }, 'model stays in its worker');
    return false;
  }
  serving.switchTo({ ...model, worker: inline });
  await model.worker.terminate();
  log.info({ sha256: model.sha256, medianMs: probe.medianMs }, 'serving the model on the agent thread');
  return true;
}

/** Clears the inline mark (clean stop, or the model left the agent thread). */
export async function clearInlineMark(deps: Pick<InlinePromotionDeps, 'dataDir' | 'state'>): Promise<void> {
  if (deps.state.serving === null) return;
  deps.state = { ...deps.state, serving: null };
  await writeInlineState(deps.dataDir, deps.state);
}
