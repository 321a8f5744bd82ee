/**
 * What one telemetry window accumulates between its start and its close: every live
 * inference's latency (into the bounded histogram), busy time for the duty cycle, failures,
 * and the top-1 confidence of the outputs. Reset at each close; memory stays constant.
 */
import type { LatencySummary } from '@edgefleet/shared/device';
import { top1Confidences } from '../meters/confidence.js';
import { createLatencyHistogram } from '../meters/latency-histogram.js';
import type { FloatTensor } from '../runtime/ort.js';

export interface WindowFigures {
  readonly inferences: number;
  readonly errors: number;
  readonly latencyMs: LatencySummary | null;
  /** Sum of inference latencies, ms. */
  readonly busyMs: number;
  readonly meanTop1Confidence: number | null;
}

export interface WindowAccumulator {
  /** One live inference; `outputs` (optional) feed the confidence signal, `confidence` overrides it (simulators). */
  recordInference(latencyMs: number, outputs?: Readonly<Record<string, FloatTensor>>, confidence?: number): void;
  recordError(): void;
  /** Returns the window's figures and starts an empty one. */
  take(): WindowFigures;
}

export function createWindowAccumulator(): WindowAccumulator {
  const histogram = createLatencyHistogram();
  let errors = 0;
  let busyMs = 0;
  let confidenceSum = 0;
  let confidenceRows = 0;

  function recordInference(
    latencyMs: number,
    outputs?: Readonly<Record<string, FloatTensor>>,
    confidence?: number,
  ): void {
    histogram.record(latencyMs);
    if (Number.isFinite(latencyMs) && latencyMs > 0) busyMs += latencyMs;
    if (confidence !== undefined && Number.isFinite(confidence)) {
      confidenceSum += Math.min(1, Math.max(0, confidence));
      confidenceRows += 1;
      return;
    }
    // The first output is the classifier's by convention (as the golden set's default).
    const first = outputs ? Object.values(outputs)[0] : undefined;
    if (!first) return;
    for (const c of top1Confidences(first)) {
      confidenceSum += c;
      confidenceRows += 1;
    }
  }

  function take(): WindowFigures {
    const figures: WindowFigures = {
      inferences: histogram.count(),
      errors,
      latencyMs: histogram.summary(),
      busyMs,
      meanTop1Confidence: confidenceRows > 0 ? confidenceSum / confidenceRows : null,
    };
    histogram.reset();
    errors = 0;
    busyMs = 0;
    confidenceSum = 0;
    confidenceRows = 0;
    return figures;
  }

  return {
    recordInference,
    recordError: () => {
      errors += 1;
    },
    take,
  };
}
