/**
 * Late fusion: one small head per feature block (each InceptionV3 tap, MobileNetV2), trained
 * separately, combined by the mean of their logits. Leave-one-source-out this generalised better
 * than one head on the concatenated blocks (models/generalisation.md), which over-fits the
 * training sources' joint feature statistics.
 *
 * The combination is itself a FusionHead: block-diagonal dense layers (member k's units read only
 * member k's inputs) and an output layer holding each member's output rows divided by the member
 * count, so that the head's logit is exactly the members' mean logit. Everything downstream
 * (the saved format, the analytic Grad-CAM gradient, the classifier) therefore needs no change.
 */
import * as tf from '@tensorflow/tfjs';
import { FusionHead, HeadError, pooledWidth, type HeadConfig } from './head.ts';

interface MemberWeights {
  readonly width: number;
  readonly mean: Float32Array;
  readonly std: Float32Array;
  /** Kernels [fanIn, fanOut] row-major and biases, hidden layers then the output layer. */
  readonly layers: { kernel: Float32Array; bias: Float32Array; fanIn: number; fanOut: number }[];
}

function readMember(head: FusionHead): MemberWeights {
  const named = head.namedWeights();
  const data = (name: string): Float32Array => Float32Array.from(named[name]!.dataSync() as Float32Array);
  const dense = (prefix: string): MemberWeights['layers'][number] => {
    const k = named[`${prefix}/kernel`]!;
    return { kernel: data(`${prefix}/kernel`), bias: data(`${prefix}/bias`), fanIn: k.shape[0]!, fanOut: k.shape[1]! };
  };
  return {
    width: pooledWidth(head.config),
    mean: data('norm/mean'),
    std: data('norm/std'),
    layers: [...head.config.hidden.map((_, i) => dense(`dense${i}`)), dense('out')],
  };
}

/**
 * The head whose logit is the mean of the members' logits. `config` describes the combined input
 * (branches, channels, taps); the members' blocks must tile its pooled vector in order, and every
 * member must have the same hidden layer widths and dropout as `config`.
 */
export function composeLateFusion(config: HeadConfig, members: readonly FusionHead[]): FusionHead {
  if (members.length === 0) throw new HeadError('late fusion needs at least one member');
  if (config.pooling !== 'avg' && members.length > 1) throw new HeadError('late fusion splits the input by block and supports avg pooling only');
  const parts = members.map(readMember);
  for (const m of members) {
    if (m.config.hidden.join() !== config.hidden.join()) throw new HeadError(`member hidden layers [${m.config.hidden.join()}] differ from the head's [${config.hidden.join()}]`);
  }
  const blocks = parts.map((p) => p.width);
  const width = blocks.reduce((a, b) => a + b, 0);
  if (width !== pooledWidth(config)) throw new HeadError(`members read ${width} inputs, the head's pooled vector has ${pooledWidth(config)}`);

  const named: Record<string, tf.Tensor> = {};
  const concat = (arrays: Float32Array[]): Float32Array => {
    const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
    let o = 0;
    for (const a of arrays) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  };
  named['norm/mean'] = tf.tensor1d(concat(parts.map((p) => p.mean)));
  named['norm/std'] = tf.tensor1d(concat(parts.map((p) => p.std)));

  const depth = config.hidden.length + 1;
  for (let l = 0; l < depth; l++) {
    const isOutput = l === depth - 1;
    const layers = parts.map((p) => p.layers[l]!);
    const fanIn = layers.reduce((s, d) => s + d.fanIn, 0);
    // The output layer is shared (2 classes); hidden layers stack the members' units side by side.
    const fanOut = isOutput ? 2 : layers.reduce((s, d) => s + d.fanOut, 0);
    const kernel = new Float32Array(fanIn * fanOut);
    const bias = new Float32Array(fanOut);
    let row0 = 0;
    let col0 = 0;
    for (const d of layers) {
      const scale = isOutput ? 1 / members.length : 1;
      for (let i = 0; i < d.fanIn; i++) {
        for (let j = 0; j < d.fanOut; j++) kernel[(row0 + i) * fanOut + (isOutput ? j : col0 + j)] = d.kernel[i * d.fanOut + j]! * scale;
      }
      for (let j = 0; j < d.fanOut; j++) bias[isOutput ? j : col0 + j]! += d.bias[j]! * scale;
      row0 += d.fanIn;
      col0 += d.fanOut;
    }
    const prefix = isOutput ? 'out' : `dense${l}`;
    named[`${prefix}/kernel`] = tf.tensor2d(kernel, [fanIn, fanOut]);
    named[`${prefix}/bias`] = tf.tensor1d(bias);
  }
  const composed: HeadConfig = {
    ...config,
    // The combined hidden layer is as wide as all members' hidden layers together.
    hidden: config.hidden.map((units) => units * members.length),
    lateFusionBlocks: blocks,
  };
  return FusionHead.fromWeights(composed, named);
}
