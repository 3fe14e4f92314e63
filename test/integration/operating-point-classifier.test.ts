/**
 * The threshold preset reaches the real classifier: the shipped model's 'specific' preset has a
 * higher threshold than 'sensitive', and fixture images between the two change label (and only
 * the label: probability and tier are the same model output).
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
if (!present) console.warn(`skipping operating-point classifier test: ${fixtures} or ../shared/models is absent`);

describe.skipIf(!present)('classifier operating point presets (shipped model)', () => {
  const dir = shippedModelDir();
  const manifest = loadManifest(dir);
  let classifier: FusionClassifier;
  beforeAll(async () => {
    classifier = await createClassifier({ modelDir: dir, operatingPoint: 'specific', camBaseline: null });
  });
  afterAll(async () => {
    await classifier?.dispose();
  });

  it('the shipped manifest has presets, sensitive equal to its threshold and specific above it', () => {
    const ops = manifest.operatingPoints!;
    expect(ops).toBeDefined();
    expect(ops.sensitive.threshold).toBe(manifest.threshold);
    expect(ops.specific.threshold).toBeGreaterThan(ops.sensitive.threshold);
    expect(ops.sensitive.valSensitivity).toBeGreaterThanOrEqual(0.9);
    expect(ops.specific.valSpecificity).toBeGreaterThanOrEqual(0.9);
    // A 'high' tier image must never be labelled benign under any preset.
    for (const p of Object.values(ops)) expect(p.threshold).toBeLessThanOrEqual(manifest.tiers.highAt);
  });

  it('labels with the chosen preset and reports its threshold', async () => {
    const tS = manifest.operatingPoints!.sensitive.threshold;
    const tX = manifest.operatingPoints!.specific.threshold;
    // Fixture images the model's stored predictions place between the two thresholds and above
    // both, so the test follows the shipped model instead of naming images for one version.
    const stored = JSON.parse(readFileSync(manifestPath(dir, manifest.fixturePredictions!), 'utf8')) as { predictions: { path: string; pMalignant: number }[] };
    const between = stored.predictions.filter((p) => p.pMalignant >= tS + 1e-3 && p.pMalignant < tX - 1e-3).slice(0, 2);
    const above = stored.predictions.find((p) => p.pMalignant >= tX + 1e-3);
    expect(between.length, 'fixture predictions between the sensitive and specific thresholds').toBe(2);
    expect(above, 'a fixture prediction above the specific threshold').toBeDefined();
    const files = [...between, above!].map((p) => join(fixtures, p.path));
    const specific = [];
    for (const f of files) specific.push((await classifier.classifyFile(f)).classification);
    classifier.setOperatingPoint('sensitive');
    const sensitive = [];
    for (const f of files) sensitive.push((await classifier.classifyFile(f)).classification);

    for (const [i, c] of specific.entries()) {
      expect(c.threshold).toBe(tX);
      expect(sensitive[i]!.threshold).toBe(tS);
      expect(c.pMalignant).toBe(sensitive[i]!.pMalignant);
      expect(c.tier).toBe(sensitive[i]!.tier);
      expect(c.label).toBe(c.pMalignant >= tX ? 'malignant' : 'benign');
      expect(sensitive[i]!.label).toBe(sensitive[i]!.pMalignant >= tS ? 'malignant' : 'benign');
    }
    // The first two lie between the thresholds: malignant when sensitive, benign when specific.
    expect(sensitive.slice(0, 2).map((c) => c.label)).toEqual(['malignant', 'malignant']);
    expect(specific.slice(0, 2).map((c) => c.label)).toEqual(['benign', 'benign']);
    expect([sensitive[2]!.label, specific[2]!.label]).toEqual(['malignant', 'malignant']);
  });
});
