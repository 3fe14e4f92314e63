/**
 * The MobileNetV2 branch: Coral's int8 ImageNet MobileNetV2 (TFLite) as a float ONNX graph with
 * the last conv map (input of the global-average MEAN) and the ImageNet logits as outputs.
 */
import { Builtin, TfliteFormatError, readTflite, type TfliteModel } from './tflite-reader.ts';
import { shortName, tfliteToOnnx, type ConvertedGraph } from './tflite-to-onnx.ts';

/** Graph output names (contract shared with backbones.ts and the tests). */
export const MOBILENET_FEATURES = 'features';
export const MOBILENET_LOGITS = 'logits';

export interface MobilenetTaps {
  /** Tensor index of the last conv feature map [1,7,7,1280]. */
  readonly features: number;
  /** Tensor index of the pre-softmax ImageNet logits [1,1001]. */
  readonly logits: number;
}

export function findMobilenetTaps(model: TfliteModel): MobilenetTaps {
  const mean = model.operators.find((op) => op.builtin === Builtin.MEAN);
  const softmax = model.operators.find((op) => op.builtin === Builtin.SOFTMAX);
  if (!mean || !softmax) throw new TfliteFormatError('not a MobileNetV2 classifier: missing global pool or softmax');
  const features = mean.inputs[0]!;
  const shape = model.tensors[features]?.shape ?? [];
  if (shape.length !== 4 || shape[3] !== 1280) throw new TfliteFormatError(`unexpected MobileNetV2 feature map shape [${shape.join(',')}]`);
  return { features, logits: softmax.inputs[0]! };
}

/** Inverted-residual blocks whose outputs can be tapped (names as in the TFLite graph). */
export const MOBILENET_BLOCK_NAMES: readonly string[] = Array.from({ length: 17 }, (_, i) => `expanded_conv_${i + 1}`);

/**
 * Output tensor of each inverted-residual block: the residual ADD where the block has one,
 * otherwise its linear projection (both are the block's output, before any activation).
 */
export function findMobilenetBlocks(model: TfliteModel): Map<string, number> {
  const blocks = new Map<string, number>();
  for (const op of model.operators) {
    const out = op.outputs[0]!;
    const m = /^MobileNetV2\/(expanded_conv_\d+)\/(add\/add|project\/batch_norm\/FusedBatchNormV3)$/.exec(shortName(model.tensors[out]?.name ?? ''));
    // Operators are in topological order, so a block's ADD overrides its projection.
    if (m) blocks.set(m[1]!, out);
  }
  return blocks;
}

export interface MobilenetConversionOptions {
  readonly withLogits?: boolean;
  /** Extra outputs at inverted-residual block ends, e.g. 'expanded_conv_13' ([N,14,14,96]). */
  readonly blocks?: readonly string[];
}

export function convertMobilenetV2(tflite: Uint8Array, options: MobilenetConversionOptions = {}): ConvertedGraph {
  const model = readTflite(tflite);
  const taps = findMobilenetTaps(model);
  const outputs = [{ name: MOBILENET_FEATURES, tensor: taps.features }];
  if (options.withLogits ?? true) outputs.push({ name: MOBILENET_LOGITS, tensor: taps.logits });
  if (options.blocks?.length) {
    const blocks = findMobilenetBlocks(model);
    for (const b of options.blocks) {
      const tensor = blocks.get(b);
      if (tensor === undefined) throw new TfliteFormatError(`MobileNetV2 has no block ${b} (have ${[...blocks.keys()].join(', ')})`);
      outputs.push({ name: b, tensor });
    }
  }
  return tfliteToOnnx(model, {
    graphName: 'mobilenet_v2',
    docString: 'MobileNetV2 1.0 224 (Coral tf2 PTQ TFLite, dequantised). Input: image NHWC RGB 0..255; normalised inside as x/127.5-1.',
    // Keras' mobilenet_v2.preprocess_input, which the float network was trained with.
    inputScale: 1 / 127.5,
    inputOffset: -1,
    outputs,
  });
}
