/**
 * TFLite (int8 post-training-quantised) → float ONNX. Weights are dequantised once; activation
 * quantisation is dropped, so the ONNX graph computes the float network the TFLite file was
 * quantised from. 4-D activations are kept in NCHW inside the graph (what onnxruntime's CPU
 * kernels want) and transposed back to NHWC at the outputs, matching the TFLite layout.
 */
import { GraphBuilder, attr, type Dim } from './onnx-builder.ts';
import { Activation, Builtin, TfliteFormatError, dequantize, intValues, type ConvOptions, type PoolOptions, type TfliteModel, type TfliteOperator, type TfliteTensor } from './tflite-reader.ts';
import { samePads } from './padding.ts';

export interface TfliteOutput {
  /** Graph output name. */
  readonly name: string;
  /** TFLite tensor index to expose. */
  readonly tensor: number;
}

export interface TfliteConversion {
  readonly outputs: readonly TfliteOutput[];
  /** Affine map applied to the 0..255 input inside the graph: x * scale + offset. */
  readonly inputScale: number;
  readonly inputOffset: number;
  readonly graphName: string;
  readonly docString?: string;
}

/** NCHW position of each NHWC axis. */
const NHWC_TO_NCHW_AXIS = [0, 2, 3, 1];

interface Value {
  readonly name: string;
  /** 4-D activations live as NCHW in the graph; everything else keeps the TFLite layout. */
  readonly nchw: boolean;
}

export function shortName(tfliteName: string): string {
  return tfliteName.split(';')[0]!.replace(/^StatefulPartitionedCall\//, '');
}

/** The operators needed to compute `targets`, in file order (TFLite stores them topologically). */
function neededOperators(model: TfliteModel, targets: readonly number[]): TfliteOperator[] {
  const producer = new Map<number, TfliteOperator>();
  for (const op of model.operators) for (const o of op.outputs) producer.set(o, op);
  const needed = new Set<TfliteOperator>();
  const stack = [...targets];
  while (stack.length) {
    const op = producer.get(stack.pop()!);
    if (!op || needed.has(op)) continue;
    needed.add(op);
    for (const i of op.inputs) if (i >= 0) stack.push(i);
  }
  return model.operators.filter((op) => needed.has(op));
}

export interface ConvertedGraph {
  readonly onnx: Uint8Array;
  readonly macsPerImage: number;
  readonly outputs: readonly { readonly name: string; readonly shape: readonly Dim[] }[];
}

export function tfliteToOnnx(model: TfliteModel, conv: TfliteConversion): ConvertedGraph {
  const g = new GraphBuilder(conv.graphName);
  g.reserve(conv.outputs.map((o) => o.name));
  const values = new Map<number, Value>();
  const tensor = (i: number): TfliteTensor => {
    const t = model.tensors[i];
    if (!t) throw new TfliteFormatError(`operator refers to missing tensor ${i}`);
    return t;
  };
  const value = (i: number): Value => {
    const v = values.get(i);
    if (!v) throw new TfliteFormatError(`tensor ${tensor(i).name} is used before it is computed`);
    return v;
  };

  const inputIndex = model.inputs[0];
  if (inputIndex === undefined) throw new TfliteFormatError('model has no input');
  const inputShape = tensor(inputIndex).shape;
  if (inputShape.length !== 4) throw new TfliteFormatError('expected an NHWC image input');
  const image = g.input('image', ['batch', inputShape[1]!, inputShape[2]!, inputShape[3]!]);
  const scaled = g.node('Add', [g.node('Mul', [image, g.scalar('input_scale', conv.inputScale)]), g.scalar('input_offset', conv.inputOffset)], {}, 'normalised');
  values.set(inputIndex, { name: g.node('Transpose', [scaled], { perm: attr.ints([0, 3, 1, 2]) }, 'input_nchw'), nchw: true });

  const activate = (x: string, fn: number, base: string): string => {
    switch (fn) {
      case Activation.NONE:
        return x;
      case Activation.RELU:
        return g.node('Relu', [x], {}, base);
      case Activation.RELU6:
        return g.node('Clip', [x, g.scalar('zero', 0), g.scalar('six', 6)], {}, base);
      case Activation.RELU_N1_TO_1:
        return g.node('Clip', [x, g.scalar('minus_one', -1), g.scalar('one', 1)], {}, base);
      case Activation.TANH:
        return g.node('Tanh', [x], {}, base);
      default:
        throw new TfliteFormatError(`unsupported fused activation ${fn}`);
    }
  };

  const spatialPads = (inShape: readonly number[], kH: number, kW: number, o: ConvOptions | PoolOptions, dilH = 1, dilW = 1): number[] => {
    if (o.padding === 'VALID') return [0, 0, 0, 0];
    const [top, bottom] = samePads(inShape[1]!, kH, o.strideH, dilH);
    const [left, right] = samePads(inShape[2]!, kW, o.strideW, dilW);
    return [top, left, bottom, right];
  };

  const toNhwc = (v: Value): string => (v.nchw ? g.node('Transpose', [v.name], { perm: attr.ints([0, 2, 3, 1]) }, `${v.name}_nhwc`) : v.name);

  const outputTensors = conv.outputs.map((o) => o.tensor);
  for (const op of neededOperators(model, outputTensors)) {
    const out = op.outputs[0]!;
    const outT = tensor(out);
    const base = shortName(outT.name);
    const in0 = op.inputs[0]!;
    switch (op.builtin) {
      case Builtin.QUANTIZE:
      case Builtin.DEQUANTIZE:
        // Float execution: (de)quantisation of activations is the identity.
        values.set(out, value(in0));
        break;
      case Builtin.CONV_2D:
      case Builtin.DEPTHWISE_CONV_2D: {
        if (op.options.kind !== 'conv') throw new TfliteFormatError(`${op.opName} without options`);
        const o = op.options.conv;
        const x = value(in0);
        const inShape = tensor(in0).shape;
        const filterT = tensor(op.inputs[1]!);
        const f = dequantize(filterT);
        const depthwise = op.builtin === Builtin.DEPTHWISE_CONV_2D;
        // CONV_2D filter is [O,KH,KW,I]; DEPTHWISE is [1,KH,KW,C*M]. ONNX wants [O, I/group, KH, KW].
        const [d0, kH, kW, d3] = filterT.shape as [number, number, number, number];
        const outC = depthwise ? d3 : d0;
        const inPerGroup = depthwise ? 1 : d3;
        const w = new Float32Array(f.length);
        for (let oc = 0; oc < outC; oc++)
          for (let ic = 0; ic < inPerGroup; ic++)
            for (let y = 0; y < kH; y++)
              for (let xx = 0; xx < kW; xx++) {
                const src = depthwise ? (y * kW + xx) * d3 + oc : ((oc * kH + y) * kW + xx) * d3 + ic;
                w[((oc * inPerGroup + ic) * kH + y) * kW + xx] = f[src]!;
              }
        const inputs = [x.name, g.initializer(`${base}/weights`, w, [outC, inPerGroup, kH, kW])];
        const biasIndex = op.inputs[2];
        if (biasIndex !== undefined && biasIndex >= 0) inputs.push(g.initializer(`${base}/bias`, dequantize(tensor(biasIndex)), [outC]));
        const outShape = outT.shape;
        g.macsPerImage += (outShape[1] ?? 1) * (outShape[2] ?? 1) * outC * kH * kW * inPerGroup;
        const y = g.node(
          'Conv',
          inputs,
          {
            kernel_shape: attr.ints([kH, kW]),
            strides: attr.ints([o.strideH, o.strideW]),
            dilations: attr.ints([o.dilationH, o.dilationW]),
            pads: attr.ints(spatialPads(inShape, kH, kW, o, o.dilationH, o.dilationW)),
            group: attr.int(depthwise ? inShape[3]! : 1),
          },
          base,
        );
        values.set(out, { name: activate(y, o.activation, `${base}/act`), nchw: x.nchw });
        break;
      }
      case Builtin.AVERAGE_POOL_2D:
      case Builtin.MAX_POOL_2D: {
        if (op.options.kind !== 'pool') throw new TfliteFormatError(`${op.opName} without options`);
        const o = op.options.pool;
        const y = g.node(op.builtin === Builtin.MAX_POOL_2D ? 'MaxPool' : 'AveragePool', [value(in0).name], {
          kernel_shape: attr.ints([o.filterH, o.filterW]),
          strides: attr.ints([o.strideH, o.strideW]),
          pads: attr.ints(spatialPads(tensor(in0).shape, o.filterH, o.filterW, o)),
        }, base);
        values.set(out, { name: activate(y, o.activation, `${base}/act`), nchw: true });
        break;
      }
      case Builtin.ADD:
      case Builtin.MUL: {
        const a = value(in0);
        const b = value(op.inputs[1]!);
        if (a.nchw !== b.nchw) throw new TfliteFormatError(`${op.opName} mixes layouts at ${base}`);
        const y = g.node(op.builtin === Builtin.ADD ? 'Add' : 'Mul', [a.name, b.name], {}, base);
        const fn = op.options.kind === 'activation' ? op.options.activation : 0;
        values.set(out, { name: activate(y, fn, `${base}/act`), nchw: a.nchw });
        break;
      }
      case Builtin.RELU:
      case Builtin.RELU6:
      case Builtin.LOGISTIC: {
        const x = value(in0);
        const y =
          op.builtin === Builtin.LOGISTIC ? g.node('Sigmoid', [x.name], {}, base) : activate(x.name, op.builtin === Builtin.RELU ? Activation.RELU : Activation.RELU6, base);
        values.set(out, { name: y, nchw: x.nchw });
        break;
      }
      case Builtin.MEAN: {
        const x = value(in0);
        const axes = intValues(tensor(op.inputs[1]!)).map((a) => (a < 0 ? a + tensor(in0).shape.length : a));
        const keep = op.options.kind === 'reducer' && op.options.keepDims;
        const onnxAxes = x.nchw ? axes.map((a) => NHWC_TO_NCHW_AXIS[a]!) : axes;
        const y = g.node('ReduceMean', [x.name], { axes: attr.ints(onnxAxes), keepdims: attr.int(keep ? 1 : 0) }, base);
        // Reducing NCHW over H and W without keepdims leaves [N,C], the same as NHWC would.
        const spatialOnly = axes.every((a) => a === 1 || a === 2);
        if (x.nchw && !keep && !spatialOnly) throw new TfliteFormatError(`MEAN over axes ${axes.join(',')} is not supported`);
        values.set(out, { name: y, nchw: x.nchw && keep });
        break;
      }
      case Builtin.RESHAPE: {
        const x = value(in0);
        const inShape = tensor(in0).shape;
        // NCHW and NHWC share memory order when H = W = 1, which is the case in classifier heads.
        const src = x.nchw && !(inShape[1] === 1 && inShape[2] === 1) ? toNhwc(x) : x.name;
        const target = [...outT.shape];
        target[0] = 0; // copy the (dynamic) batch size
        const y = g.node('Reshape', [src, g.ints64(`${base}/shape`, target)], {}, base);
        if (target.length === 4) throw new TfliteFormatError('RESHAPE to 4-D is not supported');
        values.set(out, { name: y, nchw: false });
        break;
      }
      case Builtin.FULLY_CONNECTED: {
        const x = value(in0);
        const wT = tensor(op.inputs[1]!);
        const [units, depth] = wT.shape as [number, number];
        let flat = x.name;
        if (tensor(in0).shape.length !== 2) flat = g.node('Reshape', [x.nchw ? toNhwc(x) : x.name, g.ints64(`${base}/flat`, [-1, depth])], {}, `${base}/flat`);
        const inputs = [flat, g.initializer(`${base}/weights`, dequantize(wT), [units, depth])];
        const biasIndex = op.inputs[2];
        if (biasIndex !== undefined && biasIndex >= 0) inputs.push(g.initializer(`${base}/bias`, dequantize(tensor(biasIndex)), [units]));
        g.macsPerImage += units * depth;
        const y = g.node('Gemm', inputs, { transB: attr.int(1) }, base);
        const fn = op.options.kind === 'activation' ? op.options.activation : 0;
        values.set(out, { name: activate(y, fn, `${base}/act`), nchw: false });
        break;
      }
      case Builtin.SOFTMAX: {
        const x = value(in0);
        if (x.nchw) throw new TfliteFormatError('SOFTMAX on a 4-D map is not supported');
        const beta = op.options.kind === 'softmax' ? op.options.beta : 1;
        const logits = beta === 1 ? x.name : g.node('Mul', [x.name, g.scalar(`${base}/beta`, beta)]);
        values.set(out, { name: g.node('Softmax', [logits], { axis: attr.int(-1) }, base), nchw: false });
        break;
      }
      case Builtin.PAD: {
        const x = value(in0);
        const p = intValues(tensor(op.inputs[1]!)); // [[b0,a0],[b1,a1],...] in NHWC
        const rank = p.length / 2;
        const before = Array.from({ length: rank }, (_, i) => p[2 * i]!);
        const after = Array.from({ length: rank }, (_, i) => p[2 * i + 1]!);
        const order = x.nchw ? [0, 3, 1, 2] : Array.from({ length: rank }, (_, i) => i);
        const pads = [...order.map((a) => before[a]!), ...order.map((a) => after[a]!)];
        values.set(out, { name: g.node('Pad', [x.name, g.ints64(`${base}/pads`, pads)], { mode: attr.string('constant') }, base), nchw: x.nchw });
        break;
      }
      case Builtin.CONCATENATION: {
        const xs = op.inputs.map(value);
        const axisRaw = op.options.kind === 'activation' ? (op.options.axis ?? 0) : 0;
        const rank = tensor(in0).shape.length;
        const axis = axisRaw < 0 ? axisRaw + rank : axisRaw;
        const nchw = xs[0]!.nchw;
        const y = g.node('Concat', xs.map((v) => v.name), { axis: attr.int(nchw ? NHWC_TO_NCHW_AXIS[axis]! : axis) }, base);
        const fn = op.options.kind === 'activation' ? op.options.activation : 0;
        values.set(out, { name: activate(y, fn, `${base}/act`), nchw });
        break;
      }
      default:
        throw new TfliteFormatError(`unsupported TFLite operator ${op.opName} (${base})`);
    }
  }

  const outputs: { name: string; shape: Dim[] }[] = [];
  for (const o of conv.outputs) {
    const v = value(o.tensor);
    const shape = tensor(o.tensor).shape;
    const nhwc = v.nchw ? g.node('Transpose', [v.name], { perm: attr.ints([0, 2, 3, 1]) }, `${o.name}_out`) : g.node('Identity', [v.name], {}, `${o.name}_out`);
    g.rename(nhwc, o.name);
    const dims: Dim[] = ['batch', ...shape.slice(1)];
    g.output(o.name, dims);
    outputs.push({ name: o.name, shape: dims });
  }
  return { onnx: g.encode(conv.docString ?? conv.graphName), macsPerImage: g.macsPerImage, outputs };
}
