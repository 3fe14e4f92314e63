/**
 * The InceptionV3 branch: nsfwjs@4.4.0's Keras InceptionV3 as ONNX, truncated at one or more
 * `mixedN` layers (several taps share one graph, so one pass yields them all).
 */
import { decodeWeights, type LayersModelSource } from '../weights.ts';
import { kerasToOnnx } from './keras-to-onnx.ts';
import type { ConvertedGraph } from './tflite-to-onnx.ts';

export const INCEPTION_INPUT_SIZE = 299;
export const INCEPTION_LAYER_NAMES: readonly string[] = Array.from({ length: 11 }, (_, i) => `mixed${i}`);
/** Chosen until the linear-probe measurement says otherwise (issue 2: mixed5/6 transfer best). */
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
