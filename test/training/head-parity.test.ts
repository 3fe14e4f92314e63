/**
 * The app's head (electron/model/head.ts: its own weight reader, forward pass and gradient in
 * typed arrays) against the training head (training/head/tfjs-head.ts: TensorFlow.js ops and
 * autodiff) on random heads of every shape the factory builds: logits and feature-map gradients
 * agree to 1e-5, and a head the factory saves reads back bit for bit, the shipped ones included.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FusionHead, HEAD_BIN, HEAD_JSON, pooledWidth, type HeadConfig } from '../../electron/model/head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';
import { modelsDir } from '../../electron/util/paths.ts';
import { seededRandom as rng } from '../../electron/util/random.ts';
import { composeLateFusion } from '../../training/head/late-fusion.ts';
import { ensureHeadBackend, TfjsHead } from '../../training/head/tfjs-head.ts';

function map(n: number, h: number, w: number, c: number, seed: number): FeatureMap {
  const r = rng(seed);
  return { data: Float32Array.from({ length: n * h * w * c }, () => r() * 3), shape: [n, h, w, c] };
}

/** |a - b| relative to the reference's scale (1 at least), worst element. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d / scale;
}

/** A random head with non-trivial standardisation, as a trained head has. */
function randomTfjsHead(config: HeadConfig, seed: number): TfjsHead {
  const head = TfjsHead.create(config, seed);
  const width = pooledWidth(config);
  const r = rng(seed + 1);
  head.setNormalisation(Float32Array.from({ length: width }, () => r()), Float32Array.from({ length: width }, () => 0.5 + r()));
  return head;
}

const base = { inceptionChannels: 12, mobilenetChannels: 9, dropout: 0.2 } as const;
const heads: Array<[string, () => TfjsHead]> = [
  ['avg, two hidden layers', () => randomTfjsHead({ ...base, branches: ['inception', 'mobilenet'], pooling: 'avg', hidden: [8, 5] }, 21)],
  ['avg+max, one hidden layer', () => randomTfjsHead({ ...base, branches: ['inception', 'mobilenet'], pooling: 'avg+max', hidden: [7] }, 22)],
  ['avg+max, logistic regression', () => randomTfjsHead({ ...base, branches: ['inception', 'mobilenet'], pooling: 'avg+max', hidden: [] }, 23)],
  ['MobileNetV2 only, avg+max', () => randomTfjsHead({ ...base, branches: ['mobilenet'], pooling: 'avg+max', hidden: [4] }, 24)],
  ['InceptionV3 only, avg', () => randomTfjsHead({ ...base, branches: ['inception'], pooling: 'avg', hidden: [6] }, 25)],
  [
    'late fusion of three members (two InceptionV3 taps, MobileNetV2)',
    () => {
      const member = { mobilenetChannels: 9, pooling: 'avg' as const, hidden: [3], dropout: 0.2 };
      const members = [
        randomTfjsHead({ ...member, branches: ['inception'], inceptionChannels: 6 }, 31),
        randomTfjsHead({ ...member, branches: ['inception'], inceptionChannels: 6 }, 32),
        randomTfjsHead({ ...member, branches: ['mobilenet'], inceptionChannels: 6 }, 33),
      ];
      const head = composeLateFusion({ ...member, branches: ['inception', 'mobilenet'], inceptionChannels: 12 }, members);
      members.forEach((m) => m.dispose());
      expect(head.config.lateFusionBlocks).toEqual([6, 6, 9]);
      return head;
    },
  ],
];

const dir = mkdtempSync(join(tmpdir(), 'head-parity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await ensureHeadBackend();
});

describe('the app\'s head = the training head', () => {
  heads.forEach(([name, make], k) => {
    it(`${name}: same logits, same feature-map gradients, same head after save and load`, async () => {
      const reference = make();
      try {
        const saved = join(dir, `head-${k}`);
        await reference.save(saved);
        const loaded = await FusionHead.load(saved);
        expect(loaded.config).toEqual(reference.config);
        for (const app of [reference.toRuntime(), loaded]) {
          const inc = map(3, 5, 5, 12, 1 + k);
          const mob = map(3, 3, 3, 9, 2 + k);
          const expected = reference.logits(inc, mob);
          const got = app.logits(inc, mob);
          expect(relDiff(got, expected)).toBeLessThan(1e-5);
          expect(new Set(Array.from(got, (v) => v.toFixed(4))).size).toBe(3); // items differ: a real check

          const inc1 = map(1, 5, 5, 12, 3 + k);
          const mob1 = map(1, 3, 3, 9, 4 + k);
          const ref = reference.logitWithGradients(inc1, mob1);
          const mine = app.logitWithGradients(inc1, mob1);
          expect(relDiff([mine.logit], [ref.logit])).toBeLessThan(1e-5);
          expect(relDiff(mine.inception.data, ref.inception.data)).toBeLessThan(1e-5);
          expect(relDiff(mine.mobilenet.data, ref.mobilenet.data)).toBeLessThan(1e-5);
          for (const branch of ['inception', 'mobilenet'] as const) {
            const reads = reference.config.branches.includes(branch);
            expect(mine[branch].data.some((v) => Math.abs(v) > 1e-4), branch).toBe(reads);
          }
        }
      } finally {
        reference.dispose();
      }
    });
  });
});

const shipped = ['fusion-v1', 'fusion-v2'].map((v) => modelsDir(v)).filter((d) => existsSync(join(d, HEAD_JSON)));

describe.skipIf(shipped.length === 0)('shipped heads', () => {
  for (const modelDir of shipped) {
    it(`${modelDir}: the app's reader gives tfjs' own decoding bit for bit, and the factory writes the same bytes back`, async () => {
      const meta = JSON.parse(readFileSync(join(modelDir, HEAD_JSON), 'utf8')) as { config: HeadConfig; weightSpecs: tf.io.WeightsManifestEntry[] };
      const bytes = readFileSync(join(modelDir, HEAD_BIN));
      const decoded = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, meta.weightSpecs);
      const viaTfjs = TfjsHead.fromWeights(meta.config, decoded);
      const viaApp = await TfjsHead.load(modelDir);
      try {
        expect(viaApp.weightArrays()).toEqual(viaTfjs.weightArrays());
        const copy = join(dir, `copy-${modelDir.split('/').at(-1)}`);
        await viaApp.save(copy);
        expect(readFileSync(join(copy, HEAD_BIN)).equals(bytes)).toBe(true);
        expect(JSON.parse(readFileSync(join(copy, HEAD_JSON), 'utf8'))).toMatchObject({ config: meta.config, weightSpecs: meta.weightSpecs });
        const app = await FusionHead.load(modelDir);
        const c = meta.config;
        const inc = map(1, 4, 4, c.inceptionChannels, 7);
        const mob = map(1, 3, 3, c.mobilenetChannels, 8);
        expect(relDiff(app.logits(inc, mob), viaTfjs.logits(inc, mob))).toBeLessThan(1e-5);
      } finally {
        viaTfjs.dispose();
        viaApp.dispose();
      }
    }, 60_000);
  }
});
