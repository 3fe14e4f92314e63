/**
 * The shipped model must reproduce the predictions stored with it (made through the real
 * pipeline when it was trained) on ../shared/data/fixtures, within 1e-4.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../../electron/util/paths.ts';
import { createClassifier, type FusionClassifier } from '../../electron/model/classifier.ts';
import { loadManifest, manifestPath, shippedModelDir } from '../../electron/model/manifest.ts';
import { sharedModelsPresent } from '../../electron/model/weights.ts';

const fixtures = sharedDir('data', 'fixtures');
const present = existsSync(join(fixtures, 'labels.csv')) && sharedModelsPresent();
if (!present) console.warn(`skipping shipped-model reproduction: ${fixtures} or ../shared/models is absent`);

interface Stored {
  tolerance: number;
  predictions: { path: string; label: string; pMalignant: number; tier: string }[];
}

describe.skipIf(!present)('shipped model reproduces its stored fixture predictions', () => {
  const dir = shippedModelDir();
  const manifest = loadManifest(dir);
  let classifier: FusionClassifier;
  beforeAll(async () => {
    classifier = await createClassifier({ modelDir: dir });
  });
  afterAll(async () => {
    await classifier?.dispose();
  });

  it('has stored predictions for both classes', () => {
    expect(manifest.fixturePredictions).toBeTruthy();
    const stored = JSON.parse(readFileSync(manifestPath(dir, manifest.fixturePredictions!), 'utf8')) as Stored;
    expect(stored.predictions.length).toBeGreaterThanOrEqual(10);
    expect(new Set(stored.predictions.map((p) => p.label))).toEqual(new Set(['benign', 'malignant']));
  });

  it('matches every stored probability within 1e-4 and the same tier', async () => {
    const stored = JSON.parse(readFileSync(manifestPath(dir, manifest.fixturePredictions!), 'utf8')) as Stored;
    let refused = 0;
    for (const p of stored.predictions) {
      const r = await classifier.classifyFile(join(fixtures, p.path));
      expect(Math.abs(r.classification.pMalignant - p.pMalignant), p.path).toBeLessThanOrEqual(1e-4);
      expect(r.classification.tier, p.path).toBe(p.tier);
      expect(r.classification.modelVersion).toBe(manifest.version);
      // The input gate ran both stages with the model's own statistics; it changes no probability.
      expect(r.classification.gate?.oodChecked, p.path).toBe(true);
      expect(r.classification.gate?.version).toContain(`ood:${manifest.version}@`);
      if (r.classification.gate?.verdict === 'refused') refused++;
    }
    // Real dermoscopy: the gate refuses few (measured: 4 of the 200 fixtures, 2%).
    expect(refused / stored.predictions.length).toBeLessThanOrEqual(0.1);
  }, 600_000);
});
