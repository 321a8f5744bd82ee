/**
 * A failed deployment step as a typed error: which step, which stable reason, and a
 * sentence for humans. The swap turns it into the `failure` of a deploy report [EF-PROTO 6.6].
 */
import {
  EdgefleetError,
  isEdgefleetError,
  asError,
  type DeployFailureReason,
  type ErrorCode,
  type SwapStep,
} from '@edgefleet/shared/device';

const CODE_BY_REASON: Partial<Record<DeployFailureReason, ErrorCode>> = {
  unsigned: 'EF_ERR_DEPLOY_REJECTED',
  'unknown-key': 'EF_ERR_DEPLOY_REJECTED',
  'bad-signature': 'EF_ERR_DEPLOY_REJECTED',
  'wrong-device': 'EF_ERR_DEPLOY_REJECTED',
  'bad-manifest': 'EF_ERR_DEPLOY_REJECTED',
  'digest-mismatch': 'EF_ERR_ARTIFACT_INTEGRITY',
  'size-mismatch': 'EF_ERR_ARTIFACT_INTEGRITY',
  'download-timeout': 'EF_ERR_ARTIFACT_DOWNLOAD',
  'download-refused': 'EF_ERR_ARTIFACT_DOWNLOAD',
};

/** Builds the error a step throws when it fails for a known reason. */
export function stepFailure(
  step: SwapStep,
  reason: DeployFailureReason,
  detail: string,
  cause?: unknown,
): EdgefleetError {
  const code = CODE_BY_REASON[reason] ?? 'EF_ERR_DEPLOY_FAILED';
  return new EdgefleetError(
    code,
    `${step} failed (${reason}): ${detail}`,
    { step, reason, detail },
    cause === undefined ? undefined : { cause },
  );
}

/** Reads `{step, reason, detail}` back from an error thrown by a step; unknown errors get the step's default reason. */
export function failureOf(
  err: unknown,
  step: SwapStep,
  fallback: DeployFailureReason,
): { step: SwapStep; reason: DeployFailureReason; detail: string } {
  if (isEdgefleetError(err) && typeof err.details.reason === 'string' && typeof err.details.step === 'string') {
    return {
      step: err.details.step as SwapStep,
      reason: err.details.reason as DeployFailureReason,
      detail: String(err.details.detail ?? err.message).slice(0, 1000),
    };
  }
  const message = asError(err).message;
  return { step, reason: fallback, detail: message.slice(0, 1000) };
}
