/**
 * The InceptionV3 branch: nsfwjs@4.4.0's Keras InceptionV3 as ONNX, truncated at one or more
 * `mixedN` layers (several taps share one graph, so one pass yields them all).
 */
import { decodeWeights, type LayersModelSource } from '../weights.ts';
import { kerasToOnnx } from './keras-to-onnx.ts';
import type { ConvertedGraph } from './tflite-to-onnx.ts';

export const INCEPTION_LAYER_NAMES: readonly string[] = Array.from({ length: 11 }, (_, i) => `mixed${i}`);
/**
 * The tap Backbones.load outputs when none is asked for: fusion-v1's, chosen on in-domain validation
 * (mixed5/6/7 tied with a logistic head, models/README.md). A model's manifest names its own taps
 * (fusion-v2 reads mixed5, mixed6 and mixed7).
 */
export const DEFAULT_INCEPTION_LAYERS: readonly string[] = ['mixed6'];

/** 'unit': x/255, what nsfwjs feeds; 'symmetric': x/127.5-1, what the ImageNet-trained lower layers expect. */
export type InceptionScaling = 'unit' | 'symmetric';

export function inceptionScalingAffine(scaling: InceptionScaling): { scale: number; offset: number } {
  return scaling === 'unit' ? { scale: 1 / 255, offset: 0 } : { scale: 1 / 127.5, offset: -1 };
}

export function convertInceptionV3(source: LayersModelSource, options: { layers: readonly string[]; scaling: InceptionScaling }): ConvertedGraph {
  const { scale, offset } = inceptionScalingAffine(options.scaling);
  const weights = decodeWeights(source.weightSpecs, source.weightData);
  return kerasToOnnx(source.modelTopology, weights, {
    graphName: 'inception_v3',
    docString: `InceptionV3 (nsfwjs@4.4.0) to ${options.layers.join(', ')}. Input: image NHWC RGB 0..255; scaling '${options.scaling}' inside.`,
    outputs: options.layers,
    inputScale: scale,
    inputOffset: offset,
  });
}
