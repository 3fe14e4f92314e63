/**
 * Keras functional model (layers-model JSON + decoded weights) → ONNX, truncated at chosen layers.
 * BatchNormalization directly after a linear Conv2D is folded into the conv's weights and bias;
 * 'same' padding becomes explicit pads computed as TensorFlow does (extra pixel bottom/right).
 * Activations are NCHW inside the graph; requested layers come out as NHWC.
 */
import type { KerasLayer, KerasModelTopology } from '../weights.ts';
import { GraphBuilder, attr, type Dim } from './onnx-builder.ts';
import { samePads, validSize } from './padding.ts';
import type { ConvertedGraph } from './tflite-to-onnx.ts';

export class KerasConversionError extends Error {
  override readonly name = 'KerasConversionError';
}

export interface KerasConversion {
  readonly outputs: readonly string[];
  readonly inputScale: number;
  readonly inputOffset: number;
  readonly graphName: string;
  readonly docString?: string;
}

interface Value {
  readonly name: string;
  /** NHWC shape without the batch axis: [h,w,c] for maps, [c] for vectors. */
  readonly shape: readonly number[];
}

const pair = (v: unknown, what: string): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new KerasConversionError(`bad ${what}: ${JSON.stringify(v)}`);
};

function inboundNames(layer: KerasLayer): string[] {
  const node = layer.inbound_nodes[0];
  return node ? node.map((n) => n[0]) : [];
}

export function kerasToOnnx(topology: KerasModelTopology, weights: ReadonlyMap<string, Float32Array>, conv: KerasConversion): ConvertedGraph {
  const modelConfig = topology.model_config?.config ?? topology.config;
  if (!modelConfig?.layers) throw new KerasConversionError('topology holds no functional model config');
  const layers = modelConfig.layers;
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const o of conv.outputs) if (!byName.has(o)) throw new KerasConversionError(`no layer named ${o}`);

  // Which layers are needed for the requested outputs, and how many needed layers read each one.
  const needed = new Set<string>();
  const stack = [...conv.outputs];
  while (stack.length) {
    const n = stack.pop()!;
    if (needed.has(n)) continue;
    needed.add(n);
    const l = byName.get(n);
    if (!l) throw new KerasConversionError(`layer ${n} is referenced but not defined`);
    for (const [src] of l.inbound_nodes[0] ?? []) stack.push(src);
  }
  const consumers = new Map<string, number>();
  for (const l of layers) if (needed.has(l.name)) for (const src of inboundNames(l)) consumers.set(src, (consumers.get(src) ?? 0) + 1);

  const weight = (layer: string, w: string): Float32Array => {
    const v = weights.get(`${layer}/${w}`);
    if (!v) throw new KerasConversionError(`missing weight ${layer}/${w}`);
    return v;
  };

  // A Conv2D whose only reader is a BatchNormalization (and which is not itself an output) is folded.
  const foldedConv = new Map<string, KerasLayer>(); // bn name -> conv layer
  for (const l of layers) {
    if (!needed.has(l.name) || l.class_name !== 'BatchNormalization') continue;
    const src = byName.get(inboundNames(l)[0] ?? '');
    if (src?.class_name === 'Conv2D' && (src.config.activation ?? 'linear') === 'linear' && consumers.get(src.name) === 1 && !conv.outputs.includes(src.name)) {
      foldedConv.set(l.name, src);
    }
  }
  const skipped = new Set([...foldedConv.values()].map((l) => l.name));

  const g = new GraphBuilder(conv.graphName);
  g.reserve(conv.outputs);
  const values = new Map<string, Value>();
  const input = (l: KerasLayer, i = 0): Value => {
    const src = inboundNames(l)[i];
    const v = src ? values.get(src) : undefined;
    if (!v) throw new KerasConversionError(`${l.name}: input ${src} not computed`);
    return v;
  };

  const activation = (x: string, fn: unknown, base: string): string => {
    switch (fn ?? 'linear') {
      case 'linear':
        return x;
      case 'relu':
        return g.node('Relu', [x], {}, base);
      case 'relu6':
        return g.node('Clip', [x, g.scalar('zero', 0), g.scalar('six', 6)], {}, base);
      case 'sigmoid':
        return g.node('Sigmoid', [x], {}, base);
      case 'tanh':
        return g.node('Tanh', [x], {}, base);
      case 'softmax':
        return g.node('Softmax', [x], { axis: attr.int(1) }, base);
      default:
        throw new KerasConversionError(`${base}: unsupported activation ${String(fn)}`);
    }
  };

  const emitConv = (convLayer: KerasLayer, x: Value, bn: KerasLayer | null, outName: string): Value => {
    const c = convLayer.config;
    const [kH, kW] = pair(c.kernel_size, 'kernel_size');
    const [sH, sW] = pair(c.strides ?? 1, 'strides');
    const [dH, dW] = pair(c.dilation_rate ?? 1, 'dilation_rate');
    if (c.data_format && c.data_format !== 'channels_last') throw new KerasConversionError(`${convLayer.name}: only channels_last is supported`);
    const [h, w, inC] = x.shape as [number, number, number];
    const filters = c.filters as number;
    const kernel = weight(convLayer.name, 'kernel'); // [kH,kW,in,out]
    if (kernel.length !== kH * kW * inC * filters) throw new KerasConversionError(`${convLayer.name}: kernel has ${kernel.length} values`);
    const bias = c.use_bias ? weight(convLayer.name, 'bias') : new Float32Array(filters);

    // BN: y = gamma * (x - mean) / sqrt(var + eps) + beta  →  per-output-channel scale and shift.
    const scale = new Float32Array(filters).fill(1);
    const shift = new Float32Array(filters);
    if (bn) {
      const b = bn.config;
      const eps = (b.epsilon as number | undefined) ?? 1e-3;
      const mean = weight(bn.name, 'moving_mean');
      const variance = weight(bn.name, 'moving_variance');
      const gamma = b.scale === false ? null : weight(bn.name, 'gamma');
      const beta = b.center === false ? null : weight(bn.name, 'beta');
      for (let o = 0; o < filters; o++) {
        scale[o] = (gamma ? gamma[o]! : 1) / Math.sqrt(variance[o]! + eps);
        shift[o] = (beta ? beta[o]! : 0) - mean[o]! * scale[o]!;
      }
    }
    const wOut = new Float32Array(kernel.length);
    for (let o = 0; o < filters; o++)
      for (let i = 0; i < inC; i++)
        for (let y = 0; y < kH; y++) for (let xx = 0; xx < kW; xx++) wOut[((o * inC + i) * kH + y) * kW + xx] = kernel[((y * kW + xx) * inC + i) * filters + o]! * scale[o]!;
    const bOut = Float32Array.from(bias, (v, o) => v * scale[o]! + shift[o]!);

    const same = c.padding === 'same';
    const [pt, pb] = same ? samePads(h, kH, sH, dH) : [0, 0];
    const [pl, pr] = same ? samePads(w, kW, sW, dW) : [0, 0];
    const outH = same ? Math.ceil(h / sH) : validSize(h, kH, sH, dH);
    const outW = same ? Math.ceil(w / sW) : validSize(w, kW, sW, dW);
    g.macsPerImage += outH * outW * filters * kH * kW * inC;
    const y = g.node(
      'Conv',
      [x.name, g.initializer(`${convLayer.name}/kernel`, wOut, [filters, inC, kH, kW]), g.initializer(`${convLayer.name}/bias`, bOut, [filters])],
      { kernel_shape: attr.ints([kH, kW]), strides: attr.ints([sH, sW]), dilations: attr.ints([dH, dW]), pads: attr.ints([pt, pl, pb, pr]), group: attr.int(1) },
      outName,
    );
    return { name: activation(y, c.activation, `${convLayer.name}/act`), shape: [outH, outW, filters] };
  };

  const inputLayer = layers.find((l) => l.class_name === 'InputLayer');
  const batchShape = inputLayer?.config.batch_input_shape as (number | null)[] | undefined;
  if (!inputLayer || !batchShape || batchShape.length !== 4) throw new KerasConversionError('expected one NHWC image InputLayer');
  const [, H, W, C] = batchShape as [null, number, number, number];
  const image = g.input('image', ['batch', H, W, C]);
  const normalised = g.node('Add', [g.node('Mul', [image, g.scalar('input_scale', conv.inputScale)]), g.scalar('input_offset', conv.inputOffset)], {}, 'normalised');
  values.set(inputLayer.name, { name: g.node('Transpose', [normalised], { perm: attr.ints([0, 3, 1, 2]) }, 'input_nchw'), shape: [H, W, C] });

  for (const l of layers) {
    if (!needed.has(l.name) || skipped.has(l.name) || l.class_name === 'InputLayer') continue;
    const c = l.config;
    switch (l.class_name) {
      case 'Conv2D':
        values.set(l.name, emitConv(l, input(l), null, l.name));
        break;
      case 'BatchNormalization': {
        const src = foldedConv.get(l.name);
        if (src) {
          values.set(l.name, emitConv(src, input(src), l, l.name));
          break;
        }
        // A free-standing BN (not after a conv): per-channel affine on the NCHW map.
        const x = input(l);
        const ch = x.shape[x.shape.length - 1]!;
        const eps = (c.epsilon as number | undefined) ?? 1e-3;
        const mean = weight(l.name, 'moving_mean');
        const variance = weight(l.name, 'moving_variance');
        const gamma = c.scale === false ? null : weight(l.name, 'gamma');
        const beta = c.center === false ? null : weight(l.name, 'beta');
        const s = Float32Array.from({ length: ch }, (_, i) => (gamma ? gamma[i]! : 1) / Math.sqrt(variance[i]! + eps));
        const t = Float32Array.from({ length: ch }, (_, i) => (beta ? beta[i]! : 0) - mean[i]! * s[i]!);
        const dims = x.shape.length === 3 ? [ch, 1, 1] : [ch];
        const y = g.node('Add', [g.node('Mul', [x.name, g.initializer(`${l.name}/scale`, s, dims)]), g.initializer(`${l.name}/shift`, t, dims)], {}, l.name);
        values.set(l.name, { name: y, shape: x.shape });
        break;
      }
      case 'Activation': {
        const x = input(l);
        values.set(l.name, { name: activation(x.name, c.activation, l.name), shape: x.shape });
        break;
      }
      case 'ReLU': {
        const x = input(l);
        const max = c.max_value as number | null | undefined;
        const y = max == null ? g.node('Relu', [x.name], {}, l.name) : g.node('Clip', [x.name, g.scalar('zero', 0), g.scalar(`${l.name}/max`, max)], {}, l.name);
        values.set(l.name, { name: y, shape: x.shape });
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const x = input(l);
        const [h, w, ch] = x.shape as [number, number, number];
        const [kH, kW] = pair(c.pool_size, 'pool_size');
        const [sH, sW] = pair(c.strides ?? c.pool_size, 'strides');
        const same = c.padding === 'same';
        const [pt, pb] = same ? samePads(h, kH, sH) : [0, 0];
        const [pl, pr] = same ? samePads(w, kW, sW) : [0, 0];
        // Keras' 'same' average pooling divides by the count of real pixels: ONNX count_include_pad=0.
        const y = g.node(l.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], { kernel_shape: attr.ints([kH, kW]), strides: attr.ints([sH, sW]), pads: attr.ints([pt, pl, pb, pr]) }, l.name);
        values.set(l.name, { name: y, shape: [same ? Math.ceil(h / sH) : validSize(h, kH, sH), same ? Math.ceil(w / sW) : validSize(w, kW, sW), ch] });
        break;
      }
      case 'ZeroPadding2D': {
        const x = input(l);
        const p = c.padding;
        const [[t, b], [left, right]] = Array.isArray(p) && Array.isArray(p[0]) ? [pair(p[0], 'padding'), pair(p[1], 'padding')] : [pair(p, 'padding'), pair(p, 'padding')];
        const [h, w, ch] = x.shape as [number, number, number];
        const y = g.node('Pad', [x.name, g.ints64(`${l.name}/pads`, [0, 0, t, left, 0, 0, b, right])], { mode: attr.string('constant') }, l.name);
        values.set(l.name, { name: y, shape: [h + t + b, w + left + right, ch] });
        break;
      }
      case 'Concatenate':
      case 'Add': {
        const xs = inboundNames(l).map((_, i) => input(l, i));
        const rank = xs[0]!.shape.length + 1;
        if (l.class_name === 'Add') {
          let y = xs[0]!.name;
          for (const x of xs.slice(1)) y = g.node('Add', [y, x.name], {}, l.name);
          values.set(l.name, { name: y, shape: xs[0]!.shape });
          break;
        }
        const axisRaw = (c.axis as number | undefined) ?? -1;
        const axis = axisRaw < 0 ? axisRaw + rank : axisRaw;
        if (axis !== rank - 1) throw new KerasConversionError(`${l.name}: only channel concatenation is supported`);
        const shape = [...xs[0]!.shape];
        shape[shape.length - 1] = xs.reduce((s, x) => s + x.shape[x.shape.length - 1]!, 0);
        values.set(l.name, { name: g.node('Concat', xs.map((x) => x.name), { axis: attr.int(1) }, l.name), shape });
        break;
      }
      case 'GlobalAveragePooling2D': {
        const x = input(l);
        values.set(l.name, { name: g.node('ReduceMean', [x.name], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, l.name), shape: [x.shape[2]!] });
        break;
      }
      case 'Flatten': {
        const x = input(l);
        // Keras flattens in NHWC order, so go back to NHWC first.
        const nhwc = x.shape.length === 3 ? g.node('Transpose', [x.name], { perm: attr.ints([0, 2, 3, 1]) }, `${l.name}/nhwc`) : x.name;
        const size = x.shape.reduce((a, b) => a * b, 1);
        values.set(l.name, { name: g.node('Flatten', [nhwc], { axis: attr.int(1) }, l.name), shape: [size] });
        break;
      }
      case 'Dense': {
        const x = input(l);
        if (x.shape.length !== 1) throw new KerasConversionError(`${l.name}: Dense on a ${x.shape.length}-D input is not supported`);
        const units = c.units as number;
        const k = weight(l.name, 'kernel'); // [in, units]
        g.macsPerImage += x.shape[0]! * units;
        const inputs = [x.name, g.initializer(`${l.name}/kernel`, k, [x.shape[0]!, units])];
        if (c.use_bias !== false) inputs.push(g.initializer(`${l.name}/bias`, weight(l.name, 'bias'), [units]));
        const y = g.node('Gemm', inputs, {}, l.name);
        values.set(l.name, { name: activation(y, c.activation, `${l.name}/act`), shape: [units] });
        break;
      }
      case 'Dropout':
        values.set(l.name, input(l));
        break;
      default:
        throw new KerasConversionError(`${l.name}: unsupported layer type ${l.class_name}`);
    }
  }

  const outputs: { name: string; shape: Dim[] }[] = [];
  for (const name of conv.outputs) {
    const v = values.get(name)!;
    const y = v.shape.length === 3 ? g.node('Transpose', [v.name], { perm: attr.ints([0, 2, 3, 1]) }, `${name}_out`) : g.node('Identity', [v.name], {}, `${name}_out`);
    g.rename(y, name);
    const dims: Dim[] = ['batch', ...v.shape];
    g.output(name, dims);
    outputs.push({ name, shape: dims });
  }
  return { onnx: g.encode(conv.docString ?? conv.graphName), macsPerImage: g.macsPerImage, outputs };
}
