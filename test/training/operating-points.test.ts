import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppServices } from '../../electron/app-services.ts';
import { chooseOperatingPoints } from '../../electron/model/operating-rules.ts';
import type { OperatingPoint } from '#common/domain';
import { loadManifest, ManifestError, thresholdFor } from '../../electron/model/manifest.ts';
import type { Classifier } from '../../electron/model/types.ts';
import { testManifest } from '../helpers/test-manifest.ts';

const dir = mkdtempSync(join(tmpdir(), 'operating-points-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = testManifest({ version: 'test-1', threshold: 0.3, tiers: { reviewAt: 0.1, highAt: 0.6 }, head: { hidden: [64], dropout: 0.3 } });
const points = {
  sensitive: { threshold: 0.3, valSensitivity: 0.9, valSpecificity: 0.6 },
  balanced: { threshold: 0.4, valSensitivity: 0.8, valSpecificity: 0.8 },
  specific: { threshold: 0.5, valSensitivity: 0.6, valSpecificity: 0.9 },
};

function write(manifest: unknown): void {
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

describe('manifest operatingPoints', () => {
  it('is optional: a manifest without presets loads and every preset falls back to its threshold', () => {
    write(base);
    const m = loadManifest(dir);
    expect(m.operatingPoints).toBeUndefined();
    for (const p of ['sensitive', 'balanced', 'specific'] as const) expect(thresholdFor(m, p)).toBe(0.3);
  });
  it('accepts the three presets and picks the named one', () => {
    write({ ...base, operatingPoints: points });
    const m = loadManifest(dir);
    expect(thresholdFor(m, 'specific')).toBe(0.5);
    expect(thresholdFor(m, 'balanced')).toBe(0.4);
    expect(thresholdFor(m)).toBe(0.3);
  });
  it('rejects a missing preset, an out-of-range threshold and a missing validation number', () => {
    write({ ...base, operatingPoints: { sensitive: points.sensitive, balanced: points.balanced } });
    expect(() => loadManifest(dir)).toThrow(ManifestError);
    write({ ...base, operatingPoints: { ...points, specific: { ...points.specific, threshold: 1.5 } } });
    expect(() => loadManifest(dir)).toThrow(/operatingPoints/);
    write({ ...base, operatingPoints: { ...points, balanced: { threshold: 0.4, valSensitivity: 0.8 } } });
    expect(() => loadManifest(dir)).toThrow(/valSpecificity/);
  });
});

describe('chooseOperatingPoints', () => {
  // 10 melanoma and 10 benign scores with overlap in the middle.
  const pos = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.35, 0.25, 0.1];
  const neg = [0.75, 0.55, 0.45, 0.4, 0.3, 0.2, 0.15, 0.12, 0.08, 0.05];
  const scores = [...pos, ...neg];
  const labels = [...pos.map(() => 1), ...neg.map(() => 0)];
  const ops = chooseOperatingPoints(scores, labels);

  it('sensitive reaches the target sensitivity, specific keeps 90% specificity at the highest sensitivity that allows', () => {
    expect(ops.sensitive.valSensitivity).toBeGreaterThanOrEqual(0.9);
    expect(ops.sensitive.threshold).toBe(0.25);
    expect(ops.specific.valSpecificity).toBeGreaterThanOrEqual(0.9);
    // 0.75 is the only benign score above 0.6; going lower to 0.55 would drop specificity to 0.8.
    expect(ops.specific.threshold).toBe(0.6);
    expect(ops.specific.valSensitivity).toBeCloseTo(0.6, 10);
  });
  it("balanced maximises Youden's J and sits between the other two", () => {
    const j = (p: { valSensitivity: number; valSpecificity: number }): number => p.valSensitivity + p.valSpecificity - 1;
    for (const t of [...new Set(scores)]) {
      const sens = pos.filter((s) => s >= t).length / pos.length;
      const spec = neg.filter((s) => s < t).length / neg.length;
      expect(j(ops.balanced)).toBeGreaterThanOrEqual(sens + spec - 1 - 1e-12);
    }
    expect(ops.balanced.threshold).toBeGreaterThanOrEqual(ops.sensitive.threshold);
    expect(ops.balanced.threshold).toBeLessThanOrEqual(ops.specific.threshold);
  });
});

describe('app services pass the threshold preset to the classifier', () => {
  it('loads with the stored preset and switches it when the setting changes, without reloading', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'operating-points-app-'));
    const seen: OperatingPoint[] = [];
    let loads = 0;
    const fake: Classifier = {
      modelVersion: 'fake',
      classifyFile: () => Promise.reject(new Error('not used')),
      classifyBuffer: () => Promise.reject(new Error('not used')),
      setOperatingPoint: (p) => void seen.push(p),
      operatingPoints: points,
      dispose: () => Promise.resolve(),
    };
    const services = await createAppServices({
      dataDir,
      log: () => {},
      loadClassifier: (settings) => {
        loads++;
        seen.push(settings.thresholdPreset);
        return Promise.resolve(fake);
      },
    });
    try {
      await services.modelReady;
      expect(seen.at(-1)).toBe('sensitive');
      await services.channels['settings.update']({ thresholdPreset: 'specific' });
      expect(seen.at(-1)).toBe('specific');
      await services.channels['settings.update']({ clinicName: 'Clinic' });
      expect(seen.at(-1)).toBe('specific');
      expect(loads).toBe(1);
      const info = await services.channels['app.info']({});
      expect(info.operatingPoints?.specific.valSpecificity).toBe(0.9);
    } finally {
      await services.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
