import { tf } from './backend.js';

/**
 * Training losses. Knowledge distillation follows Hinton, Vinyals & Dean 2015 ("Distilling the
 * Knowledge in a Neural Network"): the student matches the teacher's class probabilities
 * softened at temperature T, and the soft term is multiplied by T² so its gradients keep the
 * same scale as the hard-label term when T changes.
 */

/** Mean softmax cross-entropy of logits [B,K] against integer labels. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  const k = logits.shape[logits.rank - 1] as number;
  return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, k), logits) as tf.Scalar;
}

/**
 * T² · mean over the batch of KL(softmax(t/T) ‖ softmax(s/T)): zero when the student's softened
 * distribution equals the teacher's, so the reported loss reads as a distance.
 */
export function distillationLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, temperature: number): tf.Scalar {
  const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
  const logPt = tf.logSoftmax(tf.div(teacherLogits, temperature));
  const kl = tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), -1);
  return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
}

/** Mean squared difference of two feature tensors of the same shape (feature matching, FitNets-style). */
export function featureLoss(student: tf.Tensor, teacher: tf.Tensor): tf.Scalar {
  return tf.mean(tf.squaredDifference(student, teacher)) as tf.Scalar;
}

/** Number of rows whose arg-max equals the label. */
export function countCorrect(logits: Float32Array, classes: number, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if ((logits[i * classes + c] as number) > (logits[i * classes + best] as number)) best = c;
    if (best === labels[i]) correct++;
  }
  return correct;
}
