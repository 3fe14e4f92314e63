/**
 * The pooled vectors a prediction keeps (electron/model/pooled-features.ts): the head's own
 * pooled input, one vector per test-time view, from which the head reproduces the logits; the
 * classifier fills them for every view it scored; their float32 little-endian bytes round-trip.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Backbones } from '../../electron/model/backbones.ts';
import { aggregateViews, createClassifier } from '../../electron/model/classifier.ts';
import type { HeadConfig } from '../../electron/model/head.ts';
import { checkPooledFeatures, pooledFeatures, PooledFeaturesError, viewVector } from '../../electron/model/pooled-features.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { float32FromLittleEndian, float32ToLittleEndian } from '../../electron/util/typed-arrays.ts';
import { randomHead, seededMap } from '../helpers/random-head.ts';
import { testManifest } from '../helpers/test-manifest.ts';

const config: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 4, mobilenetChannels: 3, pooling: 'avg+max', hidden: [5], dropout: 0 };

describe('FusionHead.pooledInput / logitFromPooled', () => {
  it('the pooled input of each batch item gives back that item’s logit and class logits', () => {
    const head = randomHead(config, 11, { standardise: true });
    const inception = seededMap([3, 2, 3, 4], 5);
    const mobilenet = seededMap([3, 2, 2, 3], 9);
    const logits = head.logits(inception, mobilenet);
    for (let i = 0; i < 3; i++) {
      const pooled = head.pooledInput(inception, mobilenet, i);
      expect(pooled).toHaveLength(2 * 4 + 2 * 3); // avg+max per branch
      expect(head.logitFromPooled(pooled)).toBeCloseTo(logits[i]!, 5);
      const [z0, z1] = head.classLogits(inception, mobilenet, i);
      expect(head.logitFromPooled(pooled)).toBe(z1 - z0);
    }
    // Items differ, so a wrong index would show.
    expect(head.pooledInput(inception, mobilenet, 0)).not.toEqual(head.pooledInput(inception, mobilenet, 1));
    expect(() => head.logitFromPooled([1, 2, 3])).toThrow(/expects 14/);
  });
});

describe('PooledFeatures', () => {
  it('joins per-view vectors in view order and refuses ragged or mismatched input', () => {
    const f = pooledFeatures(['identity', 'hflip'], [Float64Array.of(1, 2, 3), [4, 5, 6]]);
    expect(f).toEqual({ width: 3, views: ['identity', 'hflip'], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
    expect(viewVector(f, 1)).toEqual(Float32Array.of(4, 5, 6));
    expect(() => viewVector(f, 2)).toThrow(PooledFeaturesError);
    expect(() => pooledFeatures(['identity', 'hflip'], [[1, 2], [3]])).toThrow(/hflip has 1/);
    expect(() => pooledFeatures(['identity'], [[1], [2]])).toThrow(PooledFeaturesError);
    expect(() => pooledFeatures([], [])).toThrow(PooledFeaturesError);
    expect(() => checkPooledFeatures({ width: 2, views: ['identity'], data: new Float32Array(3) })).toThrow(/1 views x 2 need 2/);
    expect(() => checkPooledFeatures({ width: 0, views: ['identity'], data: new Float32Array(0) })).toThrow(/positive/);
  });

  it('float32 values survive little-endian bytes exactly, whatever they are', () => {
    const values = Float32Array.of(0, -0, 1.5, -3.25e-5, 3.4e38, 1e-45, Math.PI, NaN, Infinity);
    const bytes = float32ToLittleEndian(values);
    expect(bytes).toHaveLength(4 * values.length);
    expect(bytes.readFloatLE(4 * 2)).toBe(1.5); // little-endian, not host order by accident
    expect(bytes.subarray(8, 12)).toEqual(Buffer.from([0x00, 0x00, 0xc0, 0x3f]));
    const back = float32FromLittleEndian(bytes);
    expect(Array.from(back)).toEqual(Array.from(values));
    expect(Object.is(back[1], -0)).toBe(true);
    // A view into a larger buffer at an odd offset reads only its own bytes.
    const padded = Buffer.concat([Buffer.from([7]), bytes, Buffer.from([9])]);
    expect(Array.from(float32FromLittleEndian(padded.subarray(1, 1 + bytes.length)))).toEqual(Array.from(values));
    expect(() => float32FromLittleEndian(Buffer.alloc(6))).toThrow(/whole number/);
  });
});

describe('the classifier fills Classification.pooled', () => {
  /** Backbones that turn the input pixels into small feature maps whose values depend on position, so flipped views differ. */
  function fakeBackbones(): Backbones {
    const map = (x: Float32Array, batch: number, size: number, channels: number): FeatureMap => {
      const data = new Float32Array(batch * 2 * 2 * channels);
      const per = size * size * 3;
      for (let b = 0; b < batch; b++) {
        for (let p = 0; p < per; p += 3 * 97) {
          const col = Math.floor(p / 3) % size;
          const cell = (col < size / 2 ? 0 : 1) + 2 * (Math.floor(p / 3 / size) < size / 2 ? 0 : 1);
          for (let c = 0; c < channels; c++) data[((b * 4 + cell) * channels) + c]! += (x[b * per + p + (c % 3)]! / 255) * (1 + c + cell * col / size);
        }
      }
      return { data, shape: [batch, 2, 2, channels] };
    };
    return {
      executionProvider: 'fake',
      inceptionLayers: ['mixed6'],
      run: async (inc: Float32Array, mob: Float32Array, batch: number) => ({ inception: { mixed6: map(inc, batch, 299, 4) }, mobilenet: map(mob, batch, 224, 3) }),
      dispose: async () => {},
    } as unknown as Backbones;
  }

  it('one vector per test-time view, the vectors the calibrated probability came from', async () => {
    const head = randomHead({ ...config, pooling: 'avg', inceptionLayer: 'mixed6' }, 3, { standardise: true });
    const manifest = testManifest({ tta: ['identity', 'hflip'], temperature: 1.3, calibrationBias: 0.2 });
    const classifier = await createClassifier({ manifest, head, backbones: fakeBackbones(), camBaseline: null, oodStats: null });
    const raw = Buffer.alloc(40 * 30 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + Math.floor(i / 120) * 11) % 256;
    const png = await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
    const { classification } = await classifier.classifyBuffer(png, 'x.png');
    const pooled = classification.pooled!;
    expect(pooled.views).toEqual(['identity', 'hflip']);
    expect(pooled.width).toBe(4 + 3);
    expect(pooled.data).toHaveLength(2 * 7);
    expect(viewVector(pooled, 0)).not.toEqual(viewVector(pooled, 1));
    const logits = [0, 1].map((v) => head.logitFromPooled(viewVector(pooled, v)));
    const again = aggregateViews(logits, manifest.temperature, manifest.calibrationBias);
    // float32 storage of the vectors: the probability comes back to within rounding.
    expect(again.p).toBeCloseTo(classification.pMalignant, 5);
    expect(again.uncertainty).toBeCloseTo(classification.uncertainty, 5);
    await classifier.dispose();
  });
});
