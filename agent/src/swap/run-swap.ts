/**
 * Runs the swap steps in order, reports each state, and on failure undoes the completed
 * steps in reverse and reports `{step, reason}` [EF-PROTO 6.6]. Never throws: every outcome
 * is a terminal deploy report, also recorded in the state file so that a redelivered
 * manifest gets the same answer instead of a second attempt.
 */
import type { Logger } from 'pino';
import {
  PROTOCOL_VERSION,
  stripUndefined,
  type DeployReport,
  type DeployState,
  type Desired,
} from '@edgefleet/shared/device';
import { failureOf } from '../artifacts/failure.js';
import { SWAP_STEP_DEFS, type SwapContext, type SwapDeps, type SwapStepDef } from './steps.js';

export interface RunSwapOptions {
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Publishes a report; must not throw (the device catches offline errors). */
  readonly report: (report: DeployReport) => void;
  /** Steps to run; default {@link SWAP_STEP_DEFS} (tests and simulators may wrap them to inject faults). */
  readonly steps?: readonly SwapStepDef[];
}

function buildReport(ctx: SwapContext, state: DeployState, failure?: DeployReport['failure']): DeployReport {
  const { body } = ctx.desired;
  return {
    type: 'deploy-report',
    v: PROTOCOL_VERSION,
    deviceId: ctx.deps.deviceId,
    deploymentId: body.deploymentId,
    rolloutId: body.rolloutId,
    variantId: body.variantId,
    sha256: body.artifact.sha256,
    state,
    ...stripUndefined({ failure }),
    chunks: { ...ctx.counts },
    ...(ctx.accuracy === null ? {} : { accuracy: ctx.accuracy }),
    serving: ctx.deps.serving.current()?.sha256 ?? null,
    sentAt: ctx.deps.clock.now(),
  };
}

async function recordOutcome(ctx: SwapContext, report: DeployReport, logger: Logger): Promise<void> {
  try {
    const state = await ctx.deps.store.loadState();
    await ctx.deps.store.saveState({
      ...state,
      outcomes: [...state.outcomes.filter((o) => o.deploymentId !== report.deploymentId), report],
    });
  } catch (err: unknown) {
    logger.warn({ err }, 'could not record the deployment outcome; a redelivered manifest will run the swap again');
  }
}

/** Runs one swap to a terminal report. */
export async function runSwap(desired: Desired, deps: SwapDeps, options: RunSwapOptions): Promise<DeployReport> {
  const { body } = desired;
  const log = options.logger.child({ deploymentId: body.deploymentId, variantId: body.variantId });
  const total = body.artifact.chunkCount;
  const ctx: SwapContext = {
    desired,
    deps,
    signal: options.signal,
    counts: { total, fetched: 0, reused: 0, corrupt: 0 },
    bytes: null,
    worker: null,
    accuracy: null,
    replaced: null,
    priorState: null,
  };
  const steps = options.steps ?? SWAP_STEP_DEFS;
  const completed: SwapStepDef[] = [];
  for (const step of steps) {
    try {
      if (options.signal.aborted && step.name !== 'authenticate') {
        throw Object.assign(new Error('a newer manifest replaced this deployment'), { superseded: true });
      }
      if (step.reports) options.report(buildReport(ctx, step.reports));
      const started = deps.clock.now();
      await step.run(ctx);
      completed.push(step);
      log.debug({ step: step.name, ms: deps.clock.now() - started }, 'swap step done');
    } catch (err: unknown) {
      const superseded = (err as { superseded?: boolean }).superseded === true;
      const failure = superseded
        ? { step: step.name, reason: 'superseded' as const, detail: 'a newer manifest replaced this deployment' }
        : failureOf(err, step.name, step.fallbackReason);
      const switched = completed.some((s) => s.name === 'switch');
      for (const done of [...completed].reverse()) {
        try {
          await done.undo?.(ctx);
        } catch (undoErr: unknown) {
          log.error({ err: undoErr, step: done.name }, 'undo failed');
        }
      }
      const report = buildReport(ctx, switched ? 'rolled-back' : 'failed', failure);
      log.warn(
        { step: failure.step, reason: failure.reason, detail: failure.detail, serving: report.serving },
        'deployment failed; the last-known-good model keeps serving',
      );
      // A superseded deployment (new manifest, shutdown) is not an outcome: after a restart
      // the same manifest must resume, not be answered from the record.
      if (failure.reason !== 'superseded') await recordOutcome(ctx, report, log);
      options.report(report);
      return report;
    }
  }
  // Final: the old worker's session is released by ending its thread, never by session.release().
  if (ctx.replaced && ctx.replaced.worker !== ctx.worker) await ctx.replaced.worker.terminate().catch(() => undefined);
  const report = buildReport(ctx, 'succeeded');
  log.info({ chunks: ctx.counts, accuracy: ctx.accuracy }, 'deployment succeeded');
  await recordOutcome(ctx, report, log);
  options.report(report);
  return report;
}
