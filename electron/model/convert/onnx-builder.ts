/**
 * A small, typed front end over the `onnx-proto` schema: the converters describe a graph as
 * nodes and float initializers, and this module owns the protobuf details (attribute kinds,
 * raw tensor bytes, value infos with a symbolic batch axis).
 */
import onnxPkg from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxPkg;

/** Default opset: 13 is the first with Squeeze/ReduceMean-as-axes changes settled enough for us. */
export const ONNX_OPSET = 13;
const IR_VERSION = 8;

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  ints: (value: readonly number[]): AttrValue => ({ kind: 'ints', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
};

/** A dimension is a fixed size or a symbolic name (the dynamic batch axis). */
export type Dim = number | string;

type TensorData = Float32Array | Int32Array | BigInt64Array;

function dataTypeOf(data: TensorData): number {
  if (data instanceof Float32Array) return onnx.TensorProto.DataType.FLOAT;
  if (data instanceof Int32Array) return onnx.TensorProto.DataType.INT32;
  return onnx.TensorProto.DataType.INT64;
}

function toAttribute(name: string, value: AttrValue): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (value.kind) {
    case 'int':
      return { name, type: T.INT, i: value.value };
    case 'float':
      return { name, type: T.FLOAT, f: value.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...value.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(value.value) };
  }
}

function valueInfo(name: string, dims: readonly Dim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly reserved = new Set<string>();
  /** Multiply-accumulates per image of the convolutions and dense layers, for the benchmark's GFLOP/s. */
  macsPerImage = 0;

  constructor(private readonly graphName: string) {}

  /** A name not yet used in the graph, derived from `base` so the ONNX file stays readable. */
  unique(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = clean;
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: readonly Dim[]): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declares `tensor` (already produced by a node) as a graph output. */
  output(tensor: string, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(tensor, dims));
  }

  initializer(base: string, data: TensorData, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${base}: ${data.length} values for dims [${dims.join(',')}]`);
    const name = this.unique(base);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dims: [...dims], dataType: dataTypeOf(data), rawData: bytes.slice() });
    return name;
  }

  ints64(base: string, values: readonly number[]): string {
    return this.initializer(base, BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]);
  }

  scalar(base: string, value: number): string {
    return this.initializer(base, Float32Array.of(value), []);
  }

  /** Adds one node with a single output and returns that output's name. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputBase?: string): string {
    const out = this.unique(outputBase ?? opType.toLowerCase());
    this.nodes.push({
      opType,
      name: this.unique(`${out}/${opType}`),
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
    return out;
  }

  /** Keeps names (the graph's output names) away from internal tensors until rename() claims them. */
  reserve(names: readonly string[]): void {
    for (const n of names) {
      if (this.used.has(n)) throw new Error(`tensor name ${n} already used`);
      this.used.add(n);
      this.reserved.add(n);
    }
  }

  /** Renames the output of the node that produced `tensor` so outputs can carry layer names. */
  rename(tensor: string, wanted: string): string {
    if (!this.reserved.delete(wanted)) {
      if (this.used.has(wanted)) throw new Error(`tensor name ${wanted} already used`);
      this.used.add(wanted);
    }
    for (const n of this.nodes) {
      n.output = n.output?.map((o: string) => (o === tensor ? wanted : o)) ?? null;
      n.input = n.input?.map((i: string) => (i === tensor ? wanted : i)) ?? null;
    }
    return wanted;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  encode(docString: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'dermafuse-convert',
      docString,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
