/**
 * Reads the parts of a TFLite flatbuffer the converter needs: tensors (shape, type, raw bytes,
 * quantisation), operators and their builtin options. Accessors are hand-written against the
 * public schema (tensorflow/lite/schema/schema.fbs); field N of a table lives at vtable slot 4+2N.
 */
import { ByteBuffer } from 'flatbuffers';

export class TfliteFormatError extends Error {
  override readonly name = 'TfliteFormatError';
}

/** TensorType values from the schema that the converter understands. */
export const TensorType = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT16: 7, INT8: 9 } as const;

/** BuiltinOperator codes from the schema (only those with a mapping or a clear rejection). */
export const Builtin = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  PAD: 34,
  MEAN: 40,
  SQUEEZE: 43,
  QUANTIZE: 114,
} as const;

export const BuiltinName: Record<number, string> = Object.fromEntries(Object.entries(Builtin).map(([k, v]) => [v, k]));

/** ActivationFunctionType from the schema. */
export const Activation = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;
export type Padding = 'SAME' | 'VALID';

export interface Quantization {
  readonly scale: Float32Array;
  readonly zeroPoint: readonly number[];
  readonly dimension: number;
}

export interface TfliteTensor {
  readonly index: number;
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: number;
  /** Constant data, or null for activations. */
  readonly data: Uint8Array | null;
  readonly quantization: Quantization | null;
}

export interface ConvOptions {
  readonly padding: Padding;
  readonly strideW: number;
  readonly strideH: number;
  readonly activation: number;
  readonly dilationW: number;
  readonly dilationH: number;
  readonly depthMultiplier: number;
}

export interface PoolOptions {
  readonly padding: Padding;
  readonly strideW: number;
  readonly strideH: number;
  readonly filterW: number;
  readonly filterH: number;
  readonly activation: number;
}

export type OperatorOptions =
  | { readonly kind: 'conv'; readonly conv: ConvOptions }
  | { readonly kind: 'pool'; readonly pool: PoolOptions }
  | { readonly kind: 'activation'; readonly activation: number; readonly keepNumDims?: boolean; readonly axis?: number }
  | { readonly kind: 'reshape'; readonly newShape: readonly number[] | null }
  | { readonly kind: 'softmax'; readonly beta: number }
  | { readonly kind: 'reducer'; readonly keepDims: boolean }
  | { readonly kind: 'none' };

export interface TfliteOperator {
  readonly builtin: number;
  readonly opName: string;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly options: OperatorOptions;
}

export interface TfliteModel {
  readonly tensors: readonly TfliteTensor[];
  readonly operators: readonly TfliteOperator[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
}

/** A flatbuffer table: position plus typed field accessors by field index. */
class Table {
  constructor(
    private readonly bb: ByteBuffer,
    private readonly pos: number,
  ) {}

  private at(field: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * field);
  }

  int32(field: number, fallback = 0): number {
    const o = this.at(field);
    return o ? this.bb.readInt32(this.pos + o) : fallback;
  }

  uint32(field: number, fallback = 0): number {
    const o = this.at(field);
    return o ? this.bb.readUint32(this.pos + o) : fallback;
  }

  int8(field: number, fallback = 0): number {
    const o = this.at(field);
    return o ? this.bb.readInt8(this.pos + o) : fallback;
  }

  uint8(field: number, fallback = 0): number {
    const o = this.at(field);
    return o ? this.bb.readUint8(this.pos + o) : fallback;
  }

  float32(field: number, fallback = 0): number {
    const o = this.at(field);
    return o ? this.bb.readFloat32(this.pos + o) : fallback;
  }

  uint64(field: number): number {
    const o = this.at(field);
    return o ? Number(this.bb.readUint64(this.pos + o)) : 0;
  }

  string(field: number): string | null {
    const o = this.at(field);
    return o ? (this.bb.__string(this.pos + o) as string) : null;
  }

  table(field: number): Table | null {
    const o = this.at(field);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : null;
  }

  private vector(field: number): { start: number; length: number } | null {
    const o = this.at(field);
    if (!o) return null;
    return { start: this.bb.__vector(this.pos + o), length: this.bb.__vector_len(this.pos + o) };
  }

  tables(field: number): Table[] {
    const v = this.vector(field);
    if (!v) return [];
    return Array.from({ length: v.length }, (_, i) => new Table(this.bb, this.bb.__indirect(v.start + 4 * i)));
  }

  int32s(field: number): number[] | null {
    const v = this.vector(field);
    if (!v) return null;
    return Array.from({ length: v.length }, (_, i) => this.bb.readInt32(v.start + 4 * i));
  }

  int64s(field: number): number[] | null {
    const v = this.vector(field);
    if (!v) return null;
    return Array.from({ length: v.length }, (_, i) => Number(this.bb.readInt64(v.start + 8 * i)));
  }

  float32s(field: number): Float32Array | null {
    const v = this.vector(field);
    if (!v) return null;
    return Float32Array.from({ length: v.length }, (_, i) => this.bb.readFloat32(v.start + 4 * i));
  }

  bytes(field: number): Uint8Array | null {
    const v = this.vector(field);
    if (!v) return null;
    return this.bb.bytes().subarray(v.start, v.start + v.length);
  }
}

function padding(code: number): Padding {
  return code === 0 ? 'SAME' : 'VALID';
}

function readOptions(builtin: number, t: Table | null): OperatorOptions {
  switch (builtin) {
    case Builtin.CONV_2D:
      // Conv2DOptions: padding, stride_w, stride_h, fused_activation_function, dilation_w, dilation_h
      return {
        kind: 'conv',
        conv: {
          padding: padding(t?.int8(0) ?? 0),
          strideW: t?.int32(1) ?? 1,
          strideH: t?.int32(2) ?? 1,
          activation: t?.int8(3) ?? 0,
          dilationW: t?.int32(4, 1) ?? 1,
          dilationH: t?.int32(5, 1) ?? 1,
          depthMultiplier: 1,
        },
      };
    case Builtin.DEPTHWISE_CONV_2D:
      // DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, activation, dilation_w, dilation_h
      return {
        kind: 'conv',
        conv: {
          padding: padding(t?.int8(0) ?? 0),
          strideW: t?.int32(1) ?? 1,
          strideH: t?.int32(2) ?? 1,
          depthMultiplier: t?.int32(3) ?? 1,
          activation: t?.int8(4) ?? 0,
          dilationW: t?.int32(5, 1) ?? 1,
          dilationH: t?.int32(6, 1) ?? 1,
        },
      };
    case Builtin.AVERAGE_POOL_2D:
    case Builtin.MAX_POOL_2D:
      // Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, activation
      return {
        kind: 'pool',
        pool: {
          padding: padding(t?.int8(0) ?? 0),
          strideW: t?.int32(1) ?? 1,
          strideH: t?.int32(2) ?? 1,
          filterW: t?.int32(3) ?? 1,
          filterH: t?.int32(4) ?? 1,
          activation: t?.int8(5) ?? 0,
        },
      };
    case Builtin.ADD:
    case Builtin.MUL:
      return { kind: 'activation', activation: t?.int8(0) ?? 0 };
    case Builtin.FULLY_CONNECTED:
      // FullyConnectedOptions: activation, weights_format, keep_num_dims
      return { kind: 'activation', activation: t?.int8(0) ?? 0, keepNumDims: (t?.uint8(2) ?? 0) !== 0 };
    case Builtin.CONCATENATION:
      // ConcatenationOptions: axis, activation
      return { kind: 'activation', axis: t?.int32(0) ?? 0, activation: t?.int8(1) ?? 0 };
    case Builtin.RESHAPE:
      return { kind: 'reshape', newShape: t?.int32s(0) ?? null };
    case Builtin.SOFTMAX:
      return { kind: 'softmax', beta: t?.float32(0, 1) ?? 1 };
    case Builtin.MEAN:
      return { kind: 'reducer', keepDims: (t?.uint8(0) ?? 0) !== 0 };
    default:
      return { kind: 'none' };
  }
}

export function readTflite(bytes: Uint8Array): TfliteModel {
  if (bytes.length < 16) throw new TfliteFormatError('file too small to be a TFLite model');
  const bb = new ByteBuffer(bytes);
  if (bb.__has_identifier('TFL3') === false) throw new TfliteFormatError('missing TFL3 file identifier');
  const model = new Table(bb, bb.readInt32(bb.position()) + bb.position());

  // OperatorCode: deprecated_builtin_code (byte), custom_code, version, builtin_code (int32).
  // Newer files set builtin_code; older ones only the deprecated byte, so take the larger.
  const opcodes = model.tables(1).map((c) => Math.max(c.int8(0), c.int32(3)));
  // Buffer: data, offset, size (offset/size only for files over 2 GB).
  const buffers = model.tables(4).map((b) => {
    const data = b.bytes(0);
    if (data && data.length > 0) return data;
    const offset = b.uint64(1);
    const size = b.uint64(2);
    return offset > 1 ? bytes.subarray(offset, offset + size) : null;
  });

  const subgraphs = model.tables(2);
  const sg = subgraphs[0];
  if (!sg) throw new TfliteFormatError('model has no subgraph');

  const tensors: TfliteTensor[] = sg.tables(0).map((t, index) => {
    const q = t.table(4);
    const scale = q?.float32s(2) ?? null;
    const quantization: Quantization | null =
      q && scale && scale.length > 0
        ? { scale, zeroPoint: q.int64s(3) ?? Array.from(scale, () => 0), dimension: q.int32(6) }
        : null;
    const bufferIndex = t.uint32(2);
    return {
      index,
      name: t.string(3) ?? `tensor_${index}`,
      shape: t.int32s(0) ?? [],
      type: t.int8(1),
      data: bufferIndex > 0 ? (buffers[bufferIndex] ?? null) : null,
      quantization,
    };
  });

  const operators: TfliteOperator[] = sg.tables(3).map((op) => {
    const builtin = opcodes[op.uint32(0)];
    if (builtin === undefined) throw new TfliteFormatError('operator refers to a missing opcode');
    return {
      builtin,
      opName: BuiltinName[builtin] ?? `BUILTIN_${builtin}`,
      inputs: op.int32s(1) ?? [],
      outputs: op.int32s(2) ?? [],
      options: readOptions(builtin, op.table(4)),
    };
  });

  return { tensors, operators, inputs: sg.int32s(1) ?? [], outputs: sg.int32s(2) ?? [] };
}

const BYTES_PER_ELEMENT: Record<number, number> = {
  [TensorType.FLOAT32]: 4,
  [TensorType.INT8]: 1,
  [TensorType.UINT8]: 1,
  [TensorType.INT16]: 2,
  [TensorType.INT32]: 4,
  [TensorType.INT64]: 8,
};

/** Reads a constant tensor as float32: dequantised with per-tensor or per-axis scale/zero-point. */
export function dequantize(t: TfliteTensor): Float32Array {
  if (!t.data) throw new TfliteFormatError(`tensor ${t.name} has no constant data`);
  const d = t.data;
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const count = t.shape.reduce((a, b) => a * b, 1);
  const width = BYTES_PER_ELEMENT[t.type];
  if (width === undefined) throw new TfliteFormatError(`tensor ${t.name}: unsupported type ${t.type}`);
  if (d.byteLength < count * width) throw new TfliteFormatError(`tensor ${t.name}: buffer shorter than its shape`);
  let raw: ArrayLike<number>;
  switch (t.type) {
    case TensorType.FLOAT32:
      return Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
    case TensorType.INT8:
      raw = Int8Array.from({ length: count }, (_, i) => view.getInt8(i));
      break;
    case TensorType.UINT8:
      raw = d.subarray(0, count);
      break;
    case TensorType.INT16:
      raw = Int16Array.from({ length: count }, (_, i) => view.getInt16(2 * i, true));
      break;
    case TensorType.INT32:
      raw = Int32Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true));
      break;
    default:
      raw = Float64Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true)));
  }
  const q = t.quantization;
  if (!q) return Float32Array.from(raw);
  const out = new Float32Array(count);
  if (q.scale.length === 1) {
    const s = q.scale[0]!;
    const z = q.zeroPoint[0] ?? 0;
    for (let i = 0; i < count; i++) out[i] = (raw[i]! - z) * s;
    return out;
  }
  // Per-axis: the channel index of flat element i along `dimension` (row-major layout).
  const dim = q.dimension;
  const channels = t.shape[dim]!;
  if (q.scale.length !== channels) throw new TfliteFormatError(`tensor ${t.name}: ${q.scale.length} scales for ${channels} channels`);
  const inner = t.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < count; i++) {
    const c = Math.floor(i / inner) % channels;
    out[i] = (raw[i]! - (q.zeroPoint[c] ?? 0)) * q.scale[c]!;
  }
  return out;
}

/** Integer constant (shapes, axes, paddings) as plain numbers. */
export function intValues(t: TfliteTensor): number[] {
  if (!t.data) throw new TfliteFormatError(`tensor ${t.name} has no constant data`);
  if (t.type !== TensorType.INT32 && t.type !== TensorType.INT64) throw new TfliteFormatError(`tensor ${t.name} is not an integer constant`);
  return Array.from(dequantize({ ...t, quantization: null }));
}
