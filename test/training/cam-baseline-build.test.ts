/**
 * buildCamBaseline (what `dermafuse train` runs after the head) writes reference maps the
 * classifier accepts for that model, from a seeded sample of training images: the same call
 * twice gives the same maps.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../../electron/util/paths.ts';
import { buildCamBaseline } from '../../training/build/cam-baseline-build.ts';
import { expectedMeta, loadCamBaseline } from '../../electron/model/cam-baseline.ts';
import { inceptionLayersOf } from '../../electron/model/classifier.ts';
import { buildProtocol } from '../../training/data/protocol.ts';
import { loadManifest, shippedModelDir } from '../../electron/model/manifest.ts';
import { sharedModelsPresent } from '../../electron/model/weights.ts';

const present = existsSync(join(sharedDir('data'), 'ham10000', 'labels.csv')) && sharedModelsPresent();
if (!present) console.warn('skipping cam-baseline build test: ../shared/data or ../shared/models is absent');

describe.skipIf(!present)('buildCamBaseline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dermafuse-cambuild-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes maps the classifier accepts, reproducibly from the seed', async () => {
    const shipped = shippedModelDir();
    // Everything the version needs (head, gate statistics, its own graphs), but not its reference maps.
    for (const f of readdirSync(shipped).filter((f) => !f.startsWith('cam-baseline'))) copyFileSync(join(shipped, f), join(dir, f));
    const protocol = await buildProtocol();
    const options = { protocol, images: 3, views: ['identity', 'hflip'] as const, seed: 5 };
    const first = await buildCamBaseline(dir, options);
    expect(first.used).toBe(3);
    const bin = readFileSync(join(dir, 'cam-baseline.bin'));
    const second = await buildCamBaseline(dir, options);
    expect(second.used).toBe(3);
    expect(readFileSync(join(dir, 'cam-baseline.bin')).equals(bin)).toBe(true);

    const manifest = loadManifest(dir);
    const taps = inceptionLayersOf(manifest);
    const loaded = await loadCamBaseline(dir, expectedMeta(manifest, taps));
    expect(loaded?.meta.inceptionLayer).toBe(taps.join('+'));
    expect(loaded?.meta.images).toBe(3);
    expect(loaded?.meta.views).toEqual(['identity', 'hflip']);
    // Every tap the head reads, joined along channels (17x17x768 each).
    expect(loaded?.inception.shape).toEqual([1, 17, 17, 768 * taps.length]);
    expect(loaded?.mobilenet.shape).toEqual([1, 7, 7, 1280]);
    expect(Array.from(loaded!.inception.data).some((v) => v > 0)).toBe(true);
  }, 120_000);
});
