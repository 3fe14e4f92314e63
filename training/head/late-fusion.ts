/**
 * Late fusion: one small head per feature block (each InceptionV3 tap, MobileNetV2), trained
 * separately, combined by the mean of their logits. Leave-one-source-out this generalised better
 * than one head on the concatenated blocks (models/generalisation.md), which over-fits the
 * training sources' joint feature statistics.
 *
 * The combination is itself a head of the same format: block-diagonal dense layers (member k's units read only
 * member k's inputs) and an output layer holding each member's output rows divided by the member
 * count, so that the head's logit is exactly the members' mean logit. Everything downstream
 * (the saved format, the app's Grad-CAM gradient, the classifier) therefore needs no change.
 */
import * as tf from '@tensorflow/tfjs';
import { concatArrays } from '../../electron/util/typed-arrays.ts';
import { HeadError, pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import { TfjsHead } from './tfjs-head.ts';

/**
 * The head whose logit is the mean of the members' logits. `config` describes the combined input
 * (branches, channels, taps); the members' blocks must tile its pooled vector in order, and every
 * member must have the same hidden layer widths and dropout as `config`.
 */
export function composeLateFusion(config: HeadConfig, members: readonly TfjsHead[]): TfjsHead {
  if (members.length === 0) throw new HeadError('late fusion needs at least one member');
  if (config.pooling !== 'avg' && members.length > 1) throw new HeadError('late fusion splits the input by block and supports avg pooling only');
  const parts = members.map((m) => m.weightArrays());
  for (const m of members) {
    if (m.config.hidden.join() !== config.hidden.join()) throw new HeadError(`member hidden layers [${m.config.hidden.join()}] differ from the head's [${config.hidden.join()}]`);
  }
  const blocks = members.map((m) => pooledWidth(m.config));
  const width = blocks.reduce((a, b) => a + b, 0);
  if (width !== pooledWidth(config)) throw new HeadError(`members read ${width} inputs, the head's pooled vector has ${pooledWidth(config)}`);

  const named: Record<string, tf.Tensor> = {};
  named['norm/mean'] = tf.tensor1d(concatArrays(parts.map((p) => p.mean), Float32Array));
  named['norm/std'] = tf.tensor1d(concatArrays(parts.map((p) => p.std), Float32Array));

  const depth = config.hidden.length + 1;
  for (let l = 0; l < depth; l++) {
    const isOutput = l === depth - 1;
    const layers = parts.map((p) => (isOutput ? p.output : p.layers[l]!));
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
  return TfjsHead.fromWeights(composed, named);
}
