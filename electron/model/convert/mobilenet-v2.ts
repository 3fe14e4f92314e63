/**
 * The MobileNetV2 branch: Coral's int8 ImageNet MobileNetV2 (TFLite) as a float ONNX graph with
 * the last conv map (input of the global-average MEAN) and the ImageNet logits as outputs.
 */
import { Builtin, TfliteFormatError, readTflite, type TfliteModel } from './tflite-reader.ts';
import { tfliteToOnnx, type ConvertedGraph } from './tflite-to-onnx.ts';

export const MOBILENET_INPUT_SIZE = 224;
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

export function convertMobilenetV2(tflite: Uint8Array, options: { withLogits?: boolean } = {}): ConvertedGraph {
  const model = readTflite(tflite);
  const taps = findMobilenetTaps(model);
  const outputs = [{ name: MOBILENET_FEATURES, tensor: taps.features }];
  if (options.withLogits ?? true) outputs.push({ name: MOBILENET_LOGITS, tensor: taps.logits });
  return tfliteToOnnx(model, {
    graphName: 'mobilenet_v2',
    docString: 'MobileNetV2 1.0 224 (Coral tf2 PTQ TFLite, dequantised). Input: image NHWC RGB 0..255; normalised inside as x/127.5-1.',
    // Keras' mobilenet_v2.preprocess_input, which the float network was trained with.
    inputScale: 1 / 127.5,
    inputOffset: -1,
    outputs,
  });
}
