/**
 * Golden sets for rollouts (issue 21): make one for a variant from data, and check one against
 * its variant before a rollout starts, so a wrong input name, wrong dims or labels the variant
 * cannot meet are refused at once instead of failing every canary. Both run the variant once
 * on this host in a fresh worker thread (golden-job.ts).
 */
import {
  describeGoldenLimit,
  EdgefleetError,
  spawnModuleWorker,
  type GoldenReport,
  type GoldenSet,
  stripUndefined,
} from '@edgefleet/shared';
import type { goldenMakeSchema } from '@edgefleet/shared';
import type { z } from 'zod';
import { resolveModel } from '../plan/models.js';
import type { ModelRepository } from '../store/models.js';
import type { VariantRepository } from '../store/variants.js';
import type { ServerArtifactStore } from './artifact-store.js';
import type { GoldenData, GoldenHostRun, GoldenJob, GoldenJobResult } from './golden-job.js';

export type GoldenMakeRequest = z.output<typeof goldenMakeSchema>;

export interface GoldenService {
  /** A golden set for the variant from data, with the figures it was made from. */
  make(req: GoldenMakeRequest): Promise<{ golden: GoldenSet; report: GoldenReport }>;
  /**
   * Refuses (EF_ERR_ROLLOUT_INVALID) a golden set that does not fit the variant's inputs or
   * outputs, or that the variant fails on this host; returns the host run otherwise.
   */
  check(artifactSha: string, golden: GoldenSet): Promise<GoldenHostRun>;
}

export type GoldenJobRunner = (job: GoldenJob) => Promise<GoldenJobResult>;

/** Runs a job in a fresh worker thread (a fresh onnxruntime session each time, released with the thread). */
export const runGoldenJobInWorker: GoldenJobRunner = (job) =>
  new Promise((done, reject) => {
    const worker = spawnModuleWorker(new URL('./golden-worker.js', import.meta.url), { workerData: job });
    let settled = false;
    const settle = (r: GoldenJobResult) => {
      if (settled) return;
      settled = true;
      done(r);
      void worker.terminate();
    };
    worker.once('message', settle);
    worker.once('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    worker.once('exit', (code) =>
      settle({ ok: false, code: 'EF_ERR_RUNTIME_CRASH', message: `the golden-set worker exited with code ${code}` }),
    );
  });

export interface GoldenServiceOptions {
  readonly artifacts: ServerArtifactStore;
  readonly variants: VariantRepository;
  readonly models: ModelRepository;
  readonly runJob?: GoldenJobRunner;
}

function unwrap(r: GoldenJobResult): GoldenHostRun {
  if (r.ok) return r;
  throw new EdgefleetError(r.code as 'EF_ERR_ROLLOUT_INVALID', r.message);
}

export function createGoldenService(o: GoldenServiceOptions): GoldenService {
  const runJob = o.runJob ?? runGoldenJobInWorker;

  function artifactOf(variant: string): string {
    const found = o.artifacts.find(variant);
    if (found.length !== 1 || found[0] === undefined)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_INVALID',
        `variant ${variant} matches ${found.length} stored artifacts; give more hex digits of its sha256 ` +
          '(`edgefleet plan` prints it; GET /v1/models/{sha}/variants lists them)',
        { variant, matches: found.length },
      );
    return found[0];
  }

  /** The data a request names, and the shapes its model was stored with. */
  async function dataOf(req: GoldenMakeRequest, sha: string) {
    if (req.from === 'samples' && req.samples)
      return { data: { kind: 'samples', ...req.samples } as GoldenData, source: 'samples', shapes: {} };
    if (req.from === 'mnist')
      return { data: { kind: 'spec', spec: 'mnist:test' } as GoldenData, source: 'mnist:test', shapes: {} };
    const row = await o.variants.findByArtifact(sha);
    if (!row)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_INVALID',
        `--golden auto needs a variant the planner built from a stored model (its evaluation data has the labels); ` +
          `${sha.slice(0, 12)} is not one. Use --golden mnist:N or a sample directory`,
        { variant: sha },
      );
    const model = await resolveModel(o.models, row.modelSha);
    return { data: { kind: 'spec', spec: model.evalSpec } as GoldenData, source: model.evalSpec, shapes: model.shapes };
  }

  return {
    async make(req) {
      const sha = artifactOf(req.variant);
      const { data, source, shapes } = await dataOf(req, sha);
      const run = unwrap(
        await runJob({
          mode: 'make',
          artifactPath: o.artifacts.pathOf(sha),
          data,
          marginPts: req.marginPts,
          shapes,
          ...stripUndefined({ count: req.count }),
        }),
      );
      return {
        golden: run.golden,
        report: {
          source,
          rows: run.rows,
          correct: run.correct,
          hostAccuracy: run.hostAccuracy,
          minAccuracy: run.golden.minAccuracy,
          marginPts: req.marginPts,
          rowBytes: run.rowBytes,
          maxRows: run.maxRows,
          limit: describeGoldenLimit(run.rowBytes),
          inputs: run.inputs.map((i) => ({ name: i.name, dims: [...i.dims] })),
        },
      };
    },
    async check(artifactSha, golden) {
      const run = unwrap(await runJob({ mode: 'check', artifactPath: o.artifacts.pathOf(artifactSha), golden }));
      if (run.hostAccuracy < golden.minAccuracy)
        throw new EdgefleetError(
          'EF_ERR_ROLLOUT_INVALID',
          `on this host the variant scores ${run.hostAccuracy.toFixed(4)} (${run.correct}/${run.rows}) on the golden ` +
            `set, below its minAccuracy ${golden.minAccuracy}, so every device would fail the smoke test; check the ` +
            'labels, or lower minAccuracy (`edgefleet golden make` sets it from a host run)',
          { hostAccuracy: run.hostAccuracy, minAccuracy: golden.minAccuracy },
        );
      return run;
    },
  };
}
