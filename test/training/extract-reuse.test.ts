/**
 * Extraction runs each backbone only on the images its own feature store lacks: features of a new
 * (fine-tuned) MobileNetV2 graph beside cached InceptionV3 features cost MobileNetV2 alone.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backbones } from '../../electron/model/backbones.ts';
import type { ModelGraphRef } from '../../electron/model/model-graph.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { sha256Hex } from '../../electron/util/hash.ts';
import { sharedDir } from '../../electron/util/paths.ts';
import { extractFeatures } from '../../training/features/extract.ts';

const fixtures = sharedDir('data', 'fixtures', 'benign');
const present = existsSync(fixtures);
if (!present) console.warn('skipping extraction reuse test: ../shared/data/fixtures is absent');

const root = mkdtempSync(join(tmpdir(), 'extract-reuse-'));
const previousCache = process.env.DERMAFUSE_CACHE;
process.env.DERMAFUSE_CACHE = root;
afterAll(() => {
  if (previousCache === undefined) delete process.env.DERMAFUSE_CACHE;
  else process.env.DERMAFUSE_CACHE = previousCache;
  rmSync(root, { recursive: true, force: true });
});

function fakeBackbones(calls: { inception: number; mobilenet: number }): Backbones {
  const map = (n: number, h: number, c: number): FeatureMap => ({ data: new Float32Array(n * h * h * c).fill(1), shape: [n, h, h, c] });
  return {
    runInception: async (_x: Float32Array, n: number) => {
      calls.inception += n;
      return { mixed5: map(n, 17, 768), mixed6: map(n, 17, 768), mixed7: map(n, 17, 768) };
    },
    runMobilenet: async (_x: Float32Array, n: number) => {
      calls.mobilenet += n;
      return map(n, 7, 1280);
    },
  } as unknown as Backbones;
}

const graph = (sha: string): ModelGraphRef => ({ file: 'g.onnx', path: '/nonexistent/g.onnx', sha256: sha.repeat(64), bytes: 1, macsPerImage: 0, outputs: ['features'] });

describe.skipIf(!present)('feature extraction with a new MobileNetV2 graph', () => {
  it('computes MobileNetV2 features for the new graph without rerunning cached InceptionV3', async () => {
    const items = readdirSync(fixtures).filter((f) => f.endsWith('.jpg')).sort().slice(0, 3).map((f) => {
      const file = join(fixtures, f);
      return { file, sha256: sha256Hex(readFileSync(file)) };
    });
    const options = { layers: ['mixed5', 'mixed6', 'mixed7'], scaling: 'unit' as const, views: ['identity'] };
    const first = { inception: 0, mobilenet: 0 };
    await extractFeatures(items, { ...options, backbones: fakeBackbones(first), graphs: { mobilenet: graph('a') } });
    expect(first).toEqual({ inception: 3, mobilenet: 3 });

    const second = { inception: 0, mobilenet: 0 };
    const r = await extractFeatures(items, { ...options, backbones: fakeBackbones(second), graphs: { mobilenet: graph('b') } });
    expect(second).toEqual({ inception: 0, mobilenet: 3 });
    expect(r.computed).toBe(3);

    const third = { inception: 0, mobilenet: 0 };
    const again = await extractFeatures(items, { ...options, backbones: fakeBackbones(third), graphs: { mobilenet: graph('b') } });
    expect(third).toEqual({ inception: 0, mobilenet: 0 });
    expect(again.skipped).toBe(3);
  });
});
