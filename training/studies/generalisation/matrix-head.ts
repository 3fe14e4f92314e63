/**
 * Trains the project's head (standardisation, dense layers, dropout, class-balanced softmax) on
 * an arbitrary feature matrix — feature blocks plus metadata columns that the fusion head's
 * branch layout has no slot for. The head's post-pooling computation only needs the input width,
 * so the matrix is presented as a single pre-pooled "branch" of that width; the training code is
 * the shared trainer, unchanged.
 */
import type { HeadConfig } from '../../../electron/model/head.ts';
import type { TfjsHead } from '../../head/tfjs-head.ts';
import { DEFAULT_TRAIN_SETTINGS, predictPooled, trainHead, type TrainSettings } from '../../head/train-head.ts';

export interface MatrixHeadSettings {
  readonly hidden: readonly number[];
  readonly dropout: number;
  readonly train: TrainSettings;
}

export const LOGISTIC: MatrixHeadSettings = { hidden: [], dropout: 0, train: DEFAULT_TRAIN_SETTINGS };

export function matrixHeadConfig(width: number, s: MatrixHeadSettings): HeadConfig {
  return { branches: ['mobilenet'], inceptionChannels: 0, mobilenetChannels: width, pooling: 'avg', hidden: [...s.hidden], dropout: s.dropout };
}

export async function trainMatrixHead(x: Float32Array, width: number, labels: readonly number[], s: MatrixHeadSettings): Promise<TfjsHead> {
  const { head } = await trainHead(matrixHeadConfig(width, s), x, labels, s.train);
  return head;
}

/** Logits (z_mal - z_ben) for the rows of x. */
export function matrixLogits(head: TfjsHead, x: Float32Array, rows: number): Float32Array {
  return predictPooled(head, x, rows);
}
