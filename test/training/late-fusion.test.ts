import { describe, expect, it } from 'vitest';
import { lateFusionMembers, featureMatrix, DEFAULT_RECIPE, FUSION_V1_RECIPE, headConfigOf, inceptionTaps, type Recipe } from '../../training/build/experiment.ts';
import { concatChannels } from '../../electron/model/feature-maps.ts';
import { HeadError, pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import { ensureHeadBackend, TfjsHead } from '../../training/head/tfjs-head.ts';
import { composeLateFusion } from '../../training/head/late-fusion.ts';
import { predictPooled } from '../../training/head/train-head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { seededRandom } from '../../electron/util/random.ts';

function randomArray(n: number, seed: number, scale = 2): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.3) * scale);
}

function member(config: HeadConfig, seed: number): TfjsHead {
  const head = TfjsHead.create(config, seed);
  const w = pooledWidth(config);
  head.setNormalisation(randomArray(w, seed + 1, 0.5), Float32Array.from(randomArray(w, seed + 2), (v) => 0.5 + Math.abs(v)));
  return head;
}

/** Columns [from, from+width) of a row-major [rows, total] matrix. */
function columns(x: Float32Array, rows: number, total: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * total + from, r * total + from + width), r * width);
  return out;
}

describe('composeLateFusion', () => {
  for (const hidden of [[], [3]] as const) {
    it(`gives exactly the members' mean logit (hidden [${hidden.join()}])`, async () => {
      await ensureHeadBackend();
      const base = { mobilenetChannels: 5, pooling: 'avg' as const, hidden: [...hidden], dropout: 0.5 };
      const configs: HeadConfig[] = [
        { ...base, branches: ['inception'], inceptionChannels: 4 },
        { ...base, branches: ['inception'], inceptionChannels: 4 },
        { ...base, branches: ['mobilenet'], inceptionChannels: 4 },
      ];
      const members = configs.map((c, k) => member(c, 10 + 7 * k));
      const combined: HeadConfig = { ...base, branches: ['inception', 'mobilenet'], inceptionChannels: 8 };
      const head = composeLateFusion(combined, members);
      expect(head.config.lateFusionBlocks).toEqual([4, 4, 5]);
      expect(head.config.hidden).toEqual(hidden.map((u) => u * 3));

      const rows = 6;
      const x = randomArray(rows * 13, 99, 3);
      const got = predictPooled(head, x, rows);
      const expected = new Float32Array(rows);
      let col = 0;
      members.forEach((m, k) => {
        const w = pooledWidth(configs[k]!);
        const z = predictPooled(m, columns(x, rows, 13, col, w), rows);
        z.forEach((v, i) => (expected[i]! += v / members.length));
        col += w;
      });
      for (let i = 0; i < rows; i++) expect(got[i]).toBeCloseTo(expected[i]!, 4);
      // The app's head (what the classifier and Grad-CAM run) sees the same head.
      const inc: FeatureMap = { data: randomArray(2 * 2 * 8, 5), shape: [1, 2, 2, 8] };
      const mob: FeatureMap = { data: randomArray(2 * 2 * 5, 6), shape: [1, 2, 2, 5] };
      expect(head.toRuntime().logits(inc, mob)[0]).toBeCloseTo(head.logits(inc, mob)[0]!, 4);
      members.forEach((m) => m.dispose());
      head.dispose();
    });
  }

  it('refuses members that do not tile the head input or differ in shape', async () => {
    await ensureHeadBackend();
    const base = { mobilenetChannels: 5, pooling: 'avg' as const, hidden: [2], dropout: 0 };
    const a = member({ ...base, branches: ['inception'], inceptionChannels: 4 }, 1);
    const b = member({ ...base, branches: ['mobilenet'], inceptionChannels: 4 }, 2);
    expect(() => composeLateFusion({ ...base, branches: ['inception', 'mobilenet'], inceptionChannels: 8 }, [a, b])).toThrow(HeadError);
    expect(() => composeLateFusion({ ...base, hidden: [3], branches: ['inception', 'mobilenet'], inceptionChannels: 4 }, [a, b])).toThrow(/hidden/);
    a.dispose();
    b.dispose();
  });
});

describe('late-fusion recipe', () => {
  const recipe: Recipe = { ...DEFAULT_RECIPE, inceptionLayers: ['mixed5', 'mixed6', 'mixed7'], fusion: 'late', hidden: [64] };

  it('has one member per InceptionV3 tap and one for MobileNetV2, tiling the head input', () => {
    const members = lateFusionMembers(recipe);
    expect(members.map((m) => m.inceptionLayer ?? m.branches.join())).toEqual(['mixed5', 'mixed6', 'mixed7', 'mobilenet']);
    expect(members.reduce((s, m) => s + pooledWidth(m), 0)).toBe(pooledWidth(headConfigOf(recipe)));
    expect(headConfigOf(recipe).inceptionChannels).toBe(3 * 768);
    expect(inceptionTaps(FUSION_V1_RECIPE)).toEqual(['mixed6']);
  });

  it('refuses max pooling, whose columns would not split by member', () => {
    expect(() => lateFusionMembers({ ...recipe, pooling: 'avg+max' })).toThrow(/avg pooling/);
  });

  it('reads an empty key list as an empty matrix of the full width', () => {
    expect(featureMatrix([], recipe, 'identity').width).toBe(3 * 768 + 1280);
  });
});

describe('concatChannels', () => {
  it('joins maps cell by cell, in order, and pools like the separate maps side by side', () => {
    const a: FeatureMap = { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2, 1, 2, 2] };
    const b: FeatureMap = { data: Float32Array.from([10, 20, 30, 40]), shape: [2, 1, 2, 1] };
    const j = concatChannels([a, b]);
    expect(j.shape).toEqual([2, 1, 2, 3]);
    expect(Array.from(j.data)).toEqual([1, 2, 10, 3, 4, 20, 5, 6, 30, 7, 8, 40]);
    expect(concatChannels([a])).toBe(a);
  });

  it('refuses maps on different grids', () => {
    const a: FeatureMap = { data: new Float32Array(4), shape: [1, 2, 2, 1] };
    const b: FeatureMap = { data: new Float32Array(9), shape: [1, 3, 3, 1] };
    expect(() => concatChannels([a, b])).toThrow(/cannot join/);
  });
});
