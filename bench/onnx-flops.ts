/**
 * Counts the floating-point work of an ONNX graph by walking its nodes with a small shape
 * inference (batch 1): Conv, Gemm and MatMul count 2 FLOPs per multiply-accumulate; everything
 * else (activations, adds, pooling, batch norm) is ignored, as is usual for CNN FLOP figures.
 * Independent of the converter's own MAC tally, so the benchmark's GFLOP/s is checked twice.
 */
import { readFile } from 'node:fs/promises';
import onnxPkg from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxPkg;

type Shape = number[];

export interface FlopCount {
  readonly flops: number;
  readonly macsByOp: Readonly<Record<string, number>>;
  /** Op types whose output shape we could not infer (their FLOPs, if any, are missing). */
  readonly unknownOps: readonly string[];
}

const PASS_THROUGH = new Set([
  'Relu', 'Clip', 'Sigmoid', 'Tanh', 'Softmax', 'Identity', 'BatchNormalization', 'Dropout', 'Cast',
  'LeakyRelu', 'HardSigmoid', 'HardSwish', 'Exp', 'Sqrt', 'Neg', 'Abs', 'Erf', 'QuantizeLinear', 'DequantizeLinear',
]);
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'Sum', 'Where']);

function attrs(node: OnnxTypes.INodeProto): Map<string, OnnxTypes.IAttributeProto> {
  return new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
}
const ints = (a: OnnxTypes.IAttributeProto | undefined): number[] | undefined => a?.ints?.map(Number);
const int = (a: OnnxTypes.IAttributeProto | undefined): number | undefined => (a?.i === undefined || a.i === null ? undefined : Number(a.i));
const str = (a: OnnxTypes.IAttributeProto | undefined): string | undefined => (a?.s ? new TextDecoder().decode(a.s) : undefined);

/** Integer contents of an int64/int32 initializer (Reshape shapes, Pad amounts). */
function intValues(t: OnnxTypes.ITensorProto): number[] {
  if (t.int64Data?.length) return t.int64Data.map(Number);
  if (t.int32Data?.length) return t.int32Data.map(Number);
  const raw = t.rawData;
  if (!raw?.length) return [];
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  if (t.dataType === onnx.TensorProto.DataType.INT64) for (let i = 0; i < buf.length; i += 8) out.push(Number(buf.readBigInt64LE(i)));
  else if (t.dataType === onnx.TensorProto.DataType.INT32) for (let i = 0; i < buf.length; i += 4) out.push(buf.readInt32LE(i));
  return out;
}

function broadcast(shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    out.push(Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
  }
  return out;
}

/** Output spatial size of a sliding window along one axis. */
function windowOut(size: number, k: number, s: number, d: number, padBegin: number, padEnd: number, autoPad: string | undefined, ceil: boolean): number {
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / s);
  const span = (k - 1) * d + 1;
  if (autoPad === 'VALID') return Math.floor((size - span) / s) + 1;
  const f = (size + padBegin + padEnd - span) / s;
  return (ceil ? Math.ceil(f) : Math.floor(f)) + 1;
}

function slidingShape(x: Shape, kernel: number[], a: Map<string, OnnxTypes.IAttributeProto>, outChannels: number): Shape {
  const n = kernel.length;
  const strides = ints(a.get('strides')) ?? kernel.map(() => 1);
  const dil = ints(a.get('dilations')) ?? kernel.map(() => 1);
  const pads = ints(a.get('pads')) ?? new Array<number>(2 * n).fill(0);
  const autoPad = str(a.get('auto_pad'));
  const ceil = int(a.get('ceil_mode')) === 1;
  const spatial = kernel.map((k, i) => windowOut(x[2 + i]!, k, strides[i]!, dil[i]!, pads[i]!, pads[i + n]!, autoPad, ceil));
  return [x[0]!, outChannels, ...spatial];
}

export function countModelFlops(model: OnnxTypes.ModelProto): FlopCount {
  const graph = model.graph!;
  const shapes = new Map<string, Shape>();
  const inits = new Map<string, OnnxTypes.ITensorProto>();
  for (const t of graph.initializer ?? []) {
    inits.set(t.name ?? '', t);
    shapes.set(t.name ?? '', (t.dims ?? []).map(Number));
  }
  for (const v of graph.input ?? []) {
    if (inits.has(v.name ?? '')) continue;
    const dims = v.type?.tensorType?.shape?.dim ?? [];
    shapes.set(v.name ?? '', dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : 1)));
  }
  const macsByOp: Record<string, number> = {};
  const unknown = new Set<string>();
  const addMacs = (op: string, m: number): void => {
    macsByOp[op] = (macsByOp[op] ?? 0) + m;
  };

  for (const node of graph.node ?? []) {
    const op = node.opType ?? '';
    const inputs = (node.input ?? []).map((i) => shapes.get(i));
    const x = inputs[0];
    const a = attrs(node);
    let out: Shape | undefined;
    if (!x) {
      if (op !== 'Constant') unknown.add(op);
    } else if (op === 'Conv') {
      const w = inputs[1]!;
      out = slidingShape(x, w.slice(2), a, w[0]!);
      addMacs(op, out.reduce((p, d) => p * d, 1) * w.slice(1).reduce((p, d) => p * d, 1));
    } else if (op === 'MaxPool' || op === 'AveragePool') {
      out = slidingShape(x, ints(a.get('kernel_shape'))!, a, x[1]!);
    } else if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') {
      out = [x[0]!, x[1]!, ...x.slice(2).map(() => 1)];
    } else if (op === 'Transpose') {
      const perm = ints(a.get('perm')) ?? x.map((_, i) => x.length - 1 - i);
      out = perm.map((p) => x[p]!);
    } else if (op === 'Pad') {
      const padName = node.input?.[1];
      const pads = padName ? intValues(inits.get(padName) ?? {}) : (ints(a.get('pads')) ?? []);
      out = x.map((d, i) => d + (pads[i] ?? 0) + (pads[i + x.length] ?? 0));
    } else if (op === 'ReduceMean' || op === 'ReduceMax' || op === 'ReduceSum') {
      const axesName = node.input?.[1];
      const axes = (ints(a.get('axes')) ?? (axesName ? intValues(inits.get(axesName) ?? {}) : x.map((_, i) => i))).map((ax) => (ax < 0 ? ax + x.length : ax));
      const keep = int(a.get('keepdims')) ?? 1;
      out = keep ? x.map((d, i) => (axes.includes(i) ? 1 : d)) : x.filter((_, i) => !axes.includes(i));
    } else if (op === 'Reshape') {
      const target = intValues(inits.get(node.input?.[1] ?? '') ?? {});
      const total = x.reduce((p, d) => p * d, 1);
      const dims = target.map((d, i) => (d === 0 ? x[i]! : d));
      const known = dims.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
      out = dims.map((d) => (d === -1 ? total / known : d));
    } else if (op === 'Flatten') {
      const axis = int(a.get('axis')) ?? 1;
      out = [x.slice(0, axis).reduce((p, d) => p * d, 1), x.slice(axis).reduce((p, d) => p * d, 1)];
    } else if (op === 'Gemm') {
      const b = inputs[1]!;
      const m = int(a.get('transA')) ? x[1]! : x[0]!;
      const k = int(a.get('transA')) ? x[0]! : x[1]!;
      const n = int(a.get('transB')) ? b[0]! : b[1]!;
      out = [m, n];
      addMacs(op, m * k * n);
    } else if (op === 'MatMul') {
      const b = inputs[1]!;
      const n = b[b.length - 1]!;
      const k = x[x.length - 1]!;
      out = [...x.slice(0, -1), n];
      addMacs(op, out.slice(0, -1).reduce((p, d) => p * d, 1) * k * n);
    } else if (op === 'Concat') {
      const axis = (int(a.get('axis')) ?? 0) < 0 ? (int(a.get('axis')) ?? 0) + x.length : (int(a.get('axis')) ?? 0);
      out = x.map((d, i) => (i === axis ? inputs.reduce((s, sh) => s + (sh?.[i] ?? 0), 0) : d));
    } else if (ELEMENTWISE.has(op)) {
      out = broadcast(inputs.filter((s): s is Shape => !!s));
    } else if (PASS_THROUGH.has(op)) {
      out = x;
    } else {
      unknown.add(op);
    }
    if (out) for (const o of node.output ?? []) shapes.set(o, out);
  }
  const macs = Object.values(macsByOp).reduce((s, m) => s + m, 0);
  return { flops: 2 * macs, macsByOp, unknownOps: [...unknown] };
}

export async function countGraphFlops(onnxPath: string): Promise<FlopCount> {
  return countModelFlops(onnx.ModelProto.decode(await readFile(onnxPath)));
}
