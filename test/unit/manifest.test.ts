import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calibrate, loadManifest, ManifestError, tierOf } from '../../electron/model/manifest.ts';
import { testManifest } from '../helpers/test-manifest.ts';

const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const valid = testManifest({ version: 'test-1', threshold: 0.3, tiers: { reviewAt: 0.1, highAt: 0.6 }, head: { hidden: [64], dropout: 0.3 } });

describe('loadManifest', () => {
  it('accepts a valid manifest', () => {
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(valid));
    expect(loadManifest(dir).temperature).toBe(1.5);
  });
  it('rejects inverted tiers and missing fields with a ManifestError', () => {
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...valid, tiers: { reviewAt: 0.7, highAt: 0.2 } }));
    expect(() => loadManifest(dir)).toThrow(ManifestError);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...valid, temperature: undefined }));
    expect(() => loadManifest(dir)).toThrow(/temperature/);
    writeFileSync(join(dir, 'manifest.json'), '{"version":');
    expect(() => loadManifest(dir)).toThrow(/not valid JSON/);
  });
  it('reports a missing manifest', () => {
    expect(() => loadManifest(join(dir, 'nope'))).toThrow(/no model manifest/);
  });
});

describe('calibrate and tierOf', () => {
  it('divides the logit by the temperature before the sigmoid', () => {
    expect(calibrate(0, 2)).toBe(0.5);
    expect(calibrate(2, 2)).toBeCloseTo(1 / (1 + Math.exp(-1)), 12);
  });
  it('cuts tiers at reviewAt and highAt inclusive', () => {
    const t = { reviewAt: 0.2, highAt: 0.6 };
    expect([0.1, 0.2, 0.59, 0.6].map((p) => tierOf(p, t))).toEqual(['low', 'review', 'review', 'high']);
  });
});
