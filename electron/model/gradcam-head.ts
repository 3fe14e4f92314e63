/**
 * The fusion head's forward pass and its exact gradient w.r.t. the feature maps, in plain
 * typed-array arithmetic. Why not tfjs: on tfjs's pure-JS CPU backend one
 * `logitWithGradients` call costs tens of milliseconds (tensor set-up, a generic reduce over
 * 17x17x768), which alone would blow Grad-CAM's 30 ms budget. The head is small (global pooling,
 * standardisation, a few dense layers), so its backward pass is short to write out; tests hold
 * it to FusionHead's tfjs results.
 *
 * Gradient of global pooling: average pooling spreads d/d(avg_c) evenly, 1/(H·W) per cell; max
 * pooling sends d/d(max_c) to the cell holding the maximum (ties: all cells equal to it, as tfjs).
 */
import { concatArrays } from '../util/typed-arrays.ts';
import type { Branch, DenseArrays as Dense, FusionHead } from './head.ts';
import type { FeatureMap } from './types.ts';


export interface AnalyticGradients {
  readonly logit: number;
  /** Same shapes as the inputs (batch 1); zero for a branch the head does not read. */
  readonly inception: FeatureMap;
  readonly mobilenet: FeatureMap;
}

export class AnalyticHead {
  readonly branches: readonly Branch[];
  readonly pooling: 'avg' | 'avg+max';
  private readonly mean: Float32Array;
  private readonly std: Float32Array;
  private readonly layers: readonly Dense[];
  private readonly output: Dense;

  private constructor(head: FusionHead) {
    this.branches = [...head.config.branches];
    this.pooling = head.config.pooling;
    const weights = head.weightArrays();
    this.mean = weights.mean;
    this.std = weights.std;
    this.layers = weights.layers;
    this.output = weights.output;
  }

  /** Snapshot of the head's current weights (re-snapshot after training changes them). */
  static from(head: FusionHead): AnalyticHead {
    return new AnalyticHead(head);
  }

  private mapOf(branch: Branch, inception: FeatureMap | null, mobilenet: FeatureMap | null): FeatureMap {
    const m = branch === 'inception' ? inception : mobilenet;
    if (!m) throw new Error(`head needs the ${branch} feature map`);
    return m;
  }

  /** Pooled input vector of batch item `index`, in the head's concatenation order. */
  private pool(inception: FeatureMap | null, mobilenet: FeatureMap | null, index: number): Float64Array {
    const parts: Float64Array[] = [];
    for (const branch of this.branches) {
      const map = this.mapOf(branch, inception, mobilenet);
      const [, h, w, c] = map.shape;
      const cells = h * w;
      const base = index * cells * c;
      const avg = new Float64Array(c);
      const max = new Float64Array(c).fill(-Infinity);
      for (let p = 0; p < cells; p++) {
        const off = base + p * c;
        for (let k = 0; k < c; k++) {
          const v = map.data[off + k]!;
          avg[k]! += v;
          if (v > max[k]!) max[k] = v;
        }
      }
      for (let k = 0; k < c; k++) avg[k]! /= cells;
      parts.push(avg);
      if (this.pooling === 'avg+max') parts.push(max);
    }
    const out = concatArrays(parts, Float64Array);
    if (out.length !== this.mean.length) throw new Error(`pooled width ${out.length} does not match the head's ${this.mean.length}`);
    return out;
  }

  /** Forward from a pooled vector; keeps each layer's activations for the backward pass. */
  private forward(pooled: Float64Array): { logit: number; acts: Float64Array[] } {
    let x = new Float64Array(pooled.length);
    for (let i = 0; i < x.length; i++) x[i] = (pooled[i]! - this.mean[i]!) / this.std[i]!;
    const acts = [x];
    for (const layer of this.layers) {
      const y = new Float64Array(layer.fanOut);
      for (let j = 0; j < layer.fanOut; j++) y[j] = layer.bias[j]!;
      for (let i = 0; i < layer.fanIn; i++) {
        const xi = x[i]!;
        if (xi === 0) continue;
        const row = i * layer.fanOut;
        for (let j = 0; j < layer.fanOut; j++) y[j]! += xi * layer.kernel[row + j]!;
      }
      for (let j = 0; j < y.length; j++) if (y[j]! < 0) y[j] = 0;
      x = y;
      acts.push(x);
    }
    const out = this.output;
    let z0 = out.bias[0]!;
    let z1 = out.bias[1]!;
    for (let i = 0; i < out.fanIn; i++) {
      z0 += x[i]! * out.kernel[i * 2]!;
      z1 += x[i]! * out.kernel[i * 2 + 1]!;
    }
    return { logit: z1 - z0, acts };
  }

  /** z_malignant − z_benign for every batch item (same as FusionHead.logits). */
  logits(inception: FeatureMap | null, mobilenet: FeatureMap | null): Float32Array {
    const n = (inception ?? mobilenet)!.shape[0];
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.forward(this.pool(inception, mobilenet, i)).logit;
    return out;
  }

  /** The logit of batch item `index` and its gradient w.r.t. that item's feature maps. */
  logitWithGradients(inception: FeatureMap, mobilenet: FeatureMap, index = 0): AnalyticGradients {
    const pooled = this.pool(inception, mobilenet, index);
    const { logit, acts } = this.forward(pooled);
    // d logit / d last activations = K[:,1] − K[:,0]
    const out = this.output;
    let grad = new Float64Array(out.fanIn);
    for (let i = 0; i < out.fanIn; i++) grad[i] = out.kernel[i * 2 + 1]! - out.kernel[i * 2]!;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const y = acts[l + 1]!;
      const prev = new Float64Array(layer.fanIn);
      for (let j = 0; j < layer.fanOut; j++) if (!(y[j]! > 0)) grad[j] = 0; // ReLU
      for (let i = 0; i < layer.fanIn; i++) {
        const row = i * layer.fanOut;
        let s = 0;
        for (let j = 0; j < layer.fanOut; j++) s += layer.kernel[row + j]! * grad[j]!;
        prev[i] = s;
      }
      grad = prev;
    }
    for (let i = 0; i < grad.length; i++) grad[i]! /= this.std[i]!;

    const result: Record<Branch, FeatureMap> = {
      inception: { data: new Float32Array(inception.data.length / inception.shape[0]), shape: [1, ...inception.shape.slice(1)] as unknown as FeatureMap['shape'] },
      mobilenet: { data: new Float32Array(mobilenet.data.length / mobilenet.shape[0]), shape: [1, ...mobilenet.shape.slice(1)] as unknown as FeatureMap['shape'] },
    };
    let offset = 0;
    for (const branch of this.branches) {
      const map = branch === 'inception' ? inception : mobilenet;
      const g = result[branch].data;
      const [, h, w, c] = map.shape;
      const cells = h * w;
      const base = index * cells * c;
      for (let p = 0; p < cells; p++) {
        const off = p * c;
        for (let k = 0; k < c; k++) g[off + k] = grad[offset + k]! / cells;
      }
      offset += c;
      if (this.pooling === 'avg+max') {
        for (let k = 0; k < c; k++) {
          let max = -Infinity;
          for (let p = 0; p < cells; p++) max = Math.max(max, map.data[base + p * c + k]!);
          const dmax = grad[offset + k]!;
          for (let p = 0; p < cells; p++) if (map.data[base + p * c + k] === max) g[p * c + k]! += dmax;
        }
        offset += c;
      }
    }
    return { logit, inception: result.inception, mobilenet: result.mobilenet };
  }
}
