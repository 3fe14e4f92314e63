import onnxPkg from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { checkTarget, renderTable, stats } from '../../bench/lib.ts';
import { countModelFlops } from '../../bench/onnx-flops.ts';

const { onnx } = onnxPkg;
const T = onnx.AttributeProto.AttributeType;

function tensor(name: string, dims: number[], int64?: number[]) {
  if (int64) {
    const raw = Buffer.alloc(8 * int64.length);
    int64.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), i * 8));
    return { name, dims, dataType: onnx.TensorProto.DataType.INT64, rawData: raw };
  }
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: Buffer.alloc(4 * dims.reduce((p, d) => p * d, 1)) };
}

describe('countModelFlops', () => {
  it('counts Conv, depthwise Conv and Gemm MACs through transpose, pad, pool and reshape', () => {
    // NHWC 1x16x16x3 → NCHW → Conv 3x3 s2 pads 1 (8 out) → Pad 1 → depthwise 3x3 VALID → MaxPool 2 → flatten → Gemm 10
    const model = onnx.ModelProto.create({
      graph: {
        input: [{ name: 'image', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 16 }, { dimValue: 16 }, { dimValue: 3 }] } } } }],
        initializer: [tensor('w1', [8, 3, 3, 3]), tensor('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]), tensor('w2', [8, 1, 3, 3]), tensor('shape', [2], [0, -1]), tensor('fc', [128, 10])],
        node: [
          { opType: 'Transpose', input: ['image'], output: ['t'], attribute: [{ name: 'perm', type: T.INTS, ints: [0, 3, 1, 2] }] },
          { opType: 'Conv', input: ['t', 'w1'], output: ['c1'], attribute: [{ name: 'strides', type: T.INTS, ints: [2, 2] }, { name: 'pads', type: T.INTS, ints: [1, 1, 1, 1] }] },
          { opType: 'Relu', input: ['c1'], output: ['r1'] },
          { opType: 'Pad', input: ['r1', 'pads'], output: ['p1'] },
          { opType: 'Conv', input: ['p1', 'w2'], output: ['c2'], attribute: [{ name: 'group', type: T.INT, i: 8 }] },
          { opType: 'MaxPool', input: ['c2'], output: ['m'], attribute: [{ name: 'kernel_shape', type: T.INTS, ints: [2, 2] }, { name: 'strides', type: T.INTS, ints: [2, 2] }] },
          { opType: 'Reshape', input: ['m', 'shape'], output: ['f'] },
          { opType: 'Gemm', input: ['f', 'fc'], output: ['y'] },
        ],
      },
    });
    const r = countModelFlops(model);
    // conv1: 8x8x8 outputs x 27; depthwise: 8x8x8 x 9; pool → 8x4x4 = 128; gemm 128x10
    expect(r.macsByOp).toEqual({ Conv: 8 * 8 * 8 * 27 + 8 * 8 * 8 * 9, Gemm: 1280 });
    expect(r.flops).toBe(2 * (8 * 8 * 8 * 36 + 1280));
    expect(r.unknownOps).toEqual([]);
  });
});

describe('bench lib', () => {
  it('computes medians and percentiles', () => {
    const s = stats([5, 1, 3, 2, 4]);
    expect([s.median, s.min, s.samples]).toEqual([3, 1, 5]);
    expect(s.p90).toBeCloseTo(4.6, 6);
  });

  it('judges targets and says n/a for missing figures', () => {
    const t = { key: 'x', op: '<=' as const, value: 10, label: 'x' };
    expect(checkTarget(t, { x: 9 }).status).toBe('pass');
    expect(checkTarget(t, { x: 11 }).status).toBe('FAIL');
    expect(checkTarget(t, { x: null }).status).toBe('n/a');
  });

  it('renders a table with a header and one line per row', () => {
    const out = renderTable([{ what: 'a', median: 1.234, p90: 2, min: 1, unit: 'ms' }]);
    expect(out.split('\n')).toHaveLength(2);
    expect(out).toContain('1.23');
  });
});
