/**
 * `evaluate` end to end on a small labelled folder built from the fixtures, with a randomly
 * initialised head (so the test does not depend on the shipped model): counts, skipped labels,
 * a bad file reported not crashed, and the live pipeline agreeing with the feature-cache path.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../../electron/util/paths.ts';
import { runEvaluate } from '../../electron/cli/evaluate.ts';
import { scoreWithCache } from '../../training/cli/evaluate-cached.ts';
import { headConfigOf, DEFAULT_RECIPE, inceptionTaps } from '../../training/build/experiment.ts';
import { TfjsHead } from '../../training/head/tfjs-head.ts';
import { readLabelledFolder } from '../../electron/model/datasets.ts';
import { INCEPTION_SOURCE_SHA256, MOBILENET_V2_TFLITE, sharedModelsPresent } from '../../electron/model/weights.ts';
import { testManifest } from '../helpers/test-manifest.ts';

const fixtures = sharedDir('data', 'fixtures');
const present = existsSync(join(fixtures, 'labels.csv')) && sharedModelsPresent();
if (!present) console.warn(`skipping evaluate CLI test: ${fixtures} or ../shared/models is absent`);

const root = mkdtempSync(join(tmpdir(), 'evaluate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!present)('evaluate', () => {
  it('scores benign/malignant rows, skips and counts other labels, reports bad files', async () => {
    const modelDir = join(root, 'model');
    const head = TfjsHead.create(headConfigOf({ ...DEFAULT_RECIPE, hidden: [4] }), 3);
    await head.save(modelDir);
    head.dispose();
    writeFileSync(
      join(modelDir, 'manifest.json'),
      JSON.stringify(
        testManifest({
          version: 'test-random',
          createdAt: new Date().toISOString(),
          // The shipped recipe's three InceptionV3 taps: live maps are joined along channels, cached
          // vectors side by side, and the two must agree column for column.
          backbones: { inception_v3: { source: 'nsfwjs', sha256: INCEPTION_SOURCE_SHA256, layers: inceptionTaps(DEFAULT_RECIPE), scaling: 'unit' }, mobilenet_v2: { source: 'coral', sha256: MOBILENET_V2_TFLITE.sha256 } },
          preprocess: { crop: 'centre-square', colorConstancy: 'none' },
          head: { hidden: [4], inceptionLayers: inceptionTaps(DEFAULT_RECIPE) },
          temperature: 1,
          tta: ['identity', 'hflip'],
        }),
      ),
    );
    const rows = readLabelledFolder(fixtures);
    const pick = [...rows.filter((r) => r.label === 'benign').slice(0, 3), ...rows.filter((r) => r.label === 'malignant').slice(0, 3)];
    const data = join(root, 'data');
    rmSync(data, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data);
    writeFileSync(join(data, 'broken.jpg'), 'not an image');
    writeFileSync(
      join(data, 'labels.csv'),
      ['path,label,split', ...pick.map((r) => `${r.file},${r.label},test`), 'broken.jpg,benign,test', `${pick[0]!.file},other_malignant,test`, `${pick[1]!.file},benign,train`].join('\n') + '\n',
    );
    const live = await runEvaluate(data, { split: 'test', model: modelDir, iterations: '200' });
    expect(live.counts).toMatchObject({ rows: 8, scored: 6, errors: 1, skippedLabels: { other_malignant: 1 } });
    expect(live.errors[0]!.path).toBe('broken.jpg');
    expect(live.metrics!.n).toBe(6);
    expect(live.metrics!.positives).toBe(3);
    const c = live.metrics!.confusion;
    expect(c.tp + c.fn).toBe(3);
    expect(c.tn + c.fp).toBe(3);

    const cached = await runEvaluate(data, { split: 'test', model: modelDir, iterations: '200' }, scoreWithCache);
    expect(cached.counts.scored).toBe(6);
    // Pooling in the head on live maps and pooling into the cache are the same computation.
    cached.predictions.forEach((c, i) => {
      expect(c.path).toBe(live.predictions[i]!.path);
      expect(Math.abs(c.p - live.predictions[i]!.p)).toBeLessThan(1e-4);
    });
    expect(cached.metrics!.auc).toBeCloseTo(live.metrics!.auc, 6);
  }, 600_000);
});
