/**
 * Trains the fusion head on cached pooled vectors: standardisation statistics from the training
 * rows, class-balanced softmax cross-entropy (each class weighs half), Adam, L2 on the kernels,
 * dropout, seeded shuffling and initialisation so the same data and settings give the same head.
 */
import * as tf from '@tensorflow/tfjs';
import { pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import { ensureHeadBackend, TfjsHead } from './tfjs-head.ts';
import { seededRandom } from '../../electron/model/metrics.ts';

export interface TrainSettings {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** L2 penalty on dense kernels (sum of squares times this). */
  readonly l2: number;
  readonly seed: number;
}

export const DEFAULT_TRAIN_SETTINGS: TrainSettings = { epochs: 20, batchSize: 256, learningRate: 1e-3, l2: 1e-4, seed: 20260601 };

/** Per-feature mean and standard deviation over rows; constant features get std 1 (left unscaled). */
export function fitNormalisation(x: Float32Array, rows: number, width: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float64Array(width);
  const sq = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    for (let k = 0; k < width; k++) mean[k]! += x[o + k]!;
  }
  for (let k = 0; k < width; k++) mean[k]! /= rows;
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    for (let k = 0; k < width; k++) {
      const d = x[o + k]! - mean[k]!;
      sq[k]! += d * d;
    }
  }
  const std = new Float32Array(width);
  for (let k = 0; k < width; k++) {
    const s = Math.sqrt(sq[k]! / Math.max(1, rows - 1));
    std[k] = s > 1e-6 ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** Weights so that each class contributes half of the loss. */
export function classBalanceWeights(labels: ArrayLike<number>): Float32Array {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i] === 1 ? 1 : 0;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) throw new Error('training needs both classes');
  return Float32Array.from(Array.from(labels), (y) => (y === 1 ? labels.length / (2 * positives) : labels.length / (2 * negatives)));
}

export interface TrainResult {
  head: TfjsHead;
  /** Mean weighted training loss per epoch. */
  losses: number[];
}

export async function trainHead(config: HeadConfig, x: Float32Array, labels: ArrayLike<number>, settings: TrainSettings = DEFAULT_TRAIN_SETTINGS): Promise<TrainResult> {
  await ensureHeadBackend();
  const width = pooledWidth(config);
  const rows = labels.length;
  if (x.length !== rows * width) throw new Error(`feature matrix has ${x.length} values, expected ${rows}x${width}`);
  const head = TfjsHead.create(config, settings.seed);
  const { mean, std } = fitNormalisation(x, rows, width);
  head.setNormalisation(mean, std);

  const X = tf.tensor2d(x, [rows, width]);
  const Y = tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), 2).toFloat();
  const W = tf.tensor1d(classBalanceWeights(labels));
  const optimizer = tf.train.adam(settings.learningRate);
  const variables = head.trainableVariables();
  const kernels = variables.filter((v) => v.shape.length === 2);
  const random = seededRandom(settings.seed ^ 0x5bd1e995);
  const losses: number[] = [];
  let step = 0;
  try {
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const order = Array.from({ length: rows }, (_, i) => i);
      for (let i = rows - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let epochLoss = 0;
      for (let start = 0; start < rows; start += settings.batchSize) {
        const idx = tf.tensor1d(order.slice(start, start + settings.batchSize), 'int32');
        const seed = settings.seed + step++;
        const loss = tf.tidy((): tf.Scalar => {
          const xb = tf.gather(X, idx) as tf.Tensor2D;
          const yb = tf.gather(Y, idx);
          const wb = tf.gather(W, idx);
          return optimizer.minimize(
            () => {
              const logits = head.forwardPooled(xb, seed);
              const ce = tf.neg(tf.sum(tf.mul(yb, tf.logSoftmax(logits)), 1));
              const data = tf.div(tf.sum(tf.mul(ce, wb)), tf.sum(wb));
              const penalty = kernels.reduce((acc: tf.Scalar, k) => tf.add(acc, tf.sum(tf.square(k))), tf.scalar(0));
              return tf.add(data, tf.mul(settings.l2, penalty)) as tf.Scalar;
            },
            true,
            variables,
          ) as tf.Scalar;
        });
        idx.dispose();
        epochLoss += (loss.dataSync()[0] ?? 0) * Math.min(settings.batchSize, rows - start);
        loss.dispose();
      }
      losses.push(epochLoss / rows);
    }
  } finally {
    X.dispose();
    Y.dispose();
    W.dispose();
    optimizer.dispose();
  }
  return { head, losses };
}

/** Logits (z_mal - z_ben) of many pooled rows, in chunks to bound memory. */
export function predictPooled(head: TfjsHead, x: Float32Array, rows: number, chunk = 2048): Float32Array {
  const width = pooledWidth(head.config);
  const out = new Float32Array(rows);
  for (let start = 0; start < rows; start += chunk) {
    const n = Math.min(chunk, rows - start);
    const t = tf.tensor2d(x.subarray(start * width, (start + n) * width), [n, width]);
    const logits = head.logitPooled(t);
    out.set(logits.dataSync() as Float32Array, start);
    t.dispose();
    logits.dispose();
  }
  return out;
}
