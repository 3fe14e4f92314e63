/**
 * The input gate through the real model and the classify command, end to end: constructed
 * images for each reason code (black, grey, noise, blur, dark, overexposed, tiny), real fixtures
 * that pass, the CSV contract for refused rows and --allow-unassessable, the exit status, the
 * decode shared with preprocessing, and the model's OOD statistics checked at load (a tampered
 * file is an error that says so; a model without statistics runs the quality checks only).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OOD_UNAVAILABLE } from '#common/gate';
import { runClassify, toCsv, type ClassifyIo, type ClassifyRow } from '../../electron/cli/classify.ts';
import { createClassifier, type FusionClassifier } from '../../electron/model/classifier.ts';
import { decodeForGate, GATE_MAX_SIDE } from '../../electron/model/input-gate/decode.ts';
import { measureQuality } from '../../electron/model/input-gate/quality.ts';
import { loadManifest, shippedModelDir } from '../../electron/model/manifest.ts';
import { seededRandom } from '../../electron/model/metrics.ts';
import { prepareImage } from '../../electron/model/preprocess.ts';
import { sharedModelsPresent } from '../../electron/model/weights.ts';
import { sharedDir } from '../../electron/util/paths.ts';

const fixtures = sharedDir('data', 'fixtures');
// Two fixtures the shipped gate passes (4 of the 200 fixtures are refused as out of distribution).
const melanoma = join(fixtures, 'malignant', 'ISIC_0000002.jpg');
const nevus = join(fixtures, 'benign', 'ISIC_0000000.jpg');
const present = existsSync(melanoma) && existsSync(nevus) && sharedModelsPresent() && existsSync(join(shippedModelDir(), 'manifest.json'));
if (!present) console.warn('skipping the input-gate end-to-end tests: fixtures, ../shared/models or the shipped model are absent');

function streams(): ClassifyIo & { text(): string } {
  const err = new PassThrough();
  let stderr = '';
  err.on('data', (d) => (stderr += String(d)));
  return { stdout: new PassThrough(), stderr: err, text: () => stderr };
}

const codes = (row: ClassifyRow | undefined): string[] => (row?.gate?.reasons ?? []).map((r) => r.code);

describe.skipIf(!present)('input gate through the shipped model and `classify`', () => {
  let dir: string;
  let classifier: FusionClassifier;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dermafuse-gate-'));
    const put = async (name: string, img: sharp.Sharp): Promise<void> => {
      files[name] = join(dir, 'in', `${name}.${name === 'grey' || name === 'noise' ? 'png' : 'jpg'}`);
      await img.toFile(files[name]);
    };
    await mkdir(join(dir, 'in'), { recursive: true });
    const plain = (v: number) => sharp({ create: { width: 600, height: 450, channels: 3, background: { r: v, g: v, b: v } } });
    await put('black', plain(0).jpeg());
    await put('grey', plain(128).png());
    const rnd = seededRandom(15);
    const noise = Buffer.from(Array.from({ length: 600 * 450 * 3 }, () => Math.floor(rnd() * 256)));
    await put('noise', sharp(noise, { raw: { width: 600, height: 450, channels: 3 } }).png());
    const { width = 0, height = 0 } = await sharp(melanoma).metadata();
    await put('blur', sharp(melanoma).blur(Math.min(width, height) / 25).jpeg({ quality: 92 }));
    await put('dark', sharp(melanoma).linear(0.04, 0).jpeg({ quality: 92 }));
    await put('overexposed', sharp(melanoma).linear(3, 0).jpeg({ quality: 92 }));
    await put('tiny', sharp(melanoma).resize(120, 90, { fit: 'fill' }).jpeg({ quality: 92 }));
    files.melanoma = join(dir, 'in', 'melanoma.jpg');
    files.nevus = join(dir, 'in', 'nevus.jpg');
    await copyFile(melanoma, files.melanoma);
    await copyFile(nevus, files.nevus);
    classifier = await createClassifier();
  }, 300_000);

  afterAll(async () => {
    await classifier?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses each constructed fault with its reason code, passes real dermoscopy, and keeps the CSV columns', async () => {
    const io = streams();
    const s = await runClassify([join(dir, 'in')], { progress: false }, classifier, io);
    const byName = new Map(s.rows.map((r) => [r.path.split('/').pop()!.replace(/\.\w+$/, ''), r]));
    expect(codes(byName.get('black'))).toEqual(expect.arrayContaining(['too_dark', 'uniform', 'out_of_distribution']));
    expect(codes(byName.get('grey'))).toEqual(expect.arrayContaining(['uniform', 'out_of_distribution']));
    expect(codes(byName.get('noise'))).toContain('out_of_distribution');
    expect(codes(byName.get('blur'))).toContain('out_of_focus');
    expect(codes(byName.get('dark'))).toContain('too_dark');
    expect(codes(byName.get('overexposed'))).toContain('overexposed');
    expect(codes(byName.get('tiny'))).toContain('too_small');
    for (const name of ['black', 'grey', 'noise', 'blur', 'dark', 'overexposed', 'tiny']) {
      const r = byName.get(name)!;
      expect(r, name).toMatchObject({ p_malignant: null, label: null, tier: null, uncertainty: null, error_code: 'cannot_assess' });
      expect(r.gate).toMatchObject({ verdict: 'refused', oodChecked: true });
      // `code: reason` entries, in the gate's order, with the measured value in words.
      expect(r.error, name).toBe(r.gate!.reasons.map((x) => `${x.code}: ${x.message}`).join('; '));
    }
    expect(byName.get('dark')!.error).toMatch(/^too_dark: image too dark: luminance \d+% of range/);
    expect(byName.get('noise')!.error).toMatch(/out_of_distribution: image unlike the dermoscopy images the model was trained on: distance \d+\.\d\d/);
    for (const name of ['melanoma', 'nevus']) {
      const r = byName.get(name)!;
      expect(r.gate, name).toMatchObject({ verdict: 'ok', reasons: [], oodChecked: true });
      expect(r.error).toBeNull();
      expect(r.p_malignant).toBeGreaterThan(0);
      expect(r.tier).toMatch(/^(low|review|high)$/);
    }
    // Refused images count as classified for the exit status: the model ran and said it cannot judge.
    expect(s).toMatchObject({ classified: 9, unassessable: 7, failed: 0 });
    expect(io.text()).not.toContain(OOD_UNAVAILABLE);

    const csv = toCsv(s.rows).trimEnd().split('\n');
    expect(csv[0]).toBe('path,p_malignant,label,tier,uncertainty,error');
    const dark = csv.find((l) => l.includes('dark.jpg'))!;
    expect(dark).toMatch(/dark\.jpg,,,,,"?too_dark: image too dark: /);
  }, 300_000);

  it('--allow-unassessable gives the values and starts `error` with the flag', async () => {
    const s = await runClassify([files.dark!, files.nevus!], { progress: false, allowUnassessable: true }, classifier, streams());
    const [dark, nevusRow] = s.rows;
    expect(dark!.p_malignant).toBeGreaterThanOrEqual(0);
    expect(dark!.label).toMatch(/^(benign|malignant)$/);
    expect(dark!.tier).toMatch(/^(low|review|high)$/);
    expect(dark!.uncertainty).not.toBeNull();
    expect(dark!.error).toMatch(/^outside_validated_range; too_dark: /);
    expect(dark!.error_code).toBe('outside_validated_range');
    expect(nevusRow!.error).toBeNull();
    expect(s).toMatchObject({ classified: 2, unassessable: 1, failed: 0 });
  }, 120_000);

  it('reads the quality checks from the decode it shares with preprocessing, as decodeForGate would see them', async () => {
    // A camera-sized JPEG (shrink-on-load path) and a training-sized one.
    const big = join(dir, 'big.jpg');
    await sharp(melanoma).resize(4000, 3000, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(big);
    for (const file of [melanoma, big]) {
      const prepared = await prepareImage(file, { orientedMaxSide: GATE_MAX_SIDE });
      const shared = measureQuality(prepared.oriented!);
      const own = measureQuality(await decodeForGate(file));
      expect(prepared.oriented!.width).toBeLessThanOrEqual(GATE_MAX_SIDE);
      expect(shared.shortSide).toBe(own.shortSide);
      expect(Math.abs(shared.lumaP95 - own.lumaP95), file).toBeLessThanOrEqual(2 / 255);
      expect(Math.abs(shared.laplacianVar - own.laplacianVar) / own.laplacianVar, file).toBeLessThan(0.1);
      expect(Math.abs(shared.edgeDensity - own.edgeDensity), file).toBeLessThan(0.02);
    }
  }, 120_000);

  it('refuses to load statistics that were altered, saying which file', async () => {
    const model = shippedModelDir();
    const copy = join(dir, 'model');
    await mkdir(copy, { recursive: true });
    for (const f of ['manifest.json', 'head.json', 'head.weights.bin', 'ood-stats.json', 'ood-stats.bin']) await copyFile(join(model, f), join(copy, f));
    const header = JSON.parse(await readFile(join(copy, 'ood-stats.json'), 'utf8')) as { mahalanobis: { threshold: number } };
    header.mahalanobis.threshold = 1000;
    await writeFile(join(copy, 'ood-stats.json'), JSON.stringify(header));
    await expect(createClassifier({ modelDir: copy })).rejects.toThrow(/ood-stats\.json have been modified: sha256 [0-9a-f]{64}, the manifest records/);
    await copyFile(join(model, 'ood-stats.json'), join(copy, 'ood-stats.json'));
    const bin = await readFile(join(copy, 'ood-stats.bin'));
    bin[100] = bin[100]! ^ 0xff;
    await writeFile(join(copy, 'ood-stats.bin'), bin);
    await expect(createClassifier({ modelDir: copy })).rejects.toThrow(/ood-stats\.bin have been modified/);
  });

  it('a model without statistics runs the quality checks only and says the OOD check is unavailable', async () => {
    const manifest = loadManifest(shippedModelDir());
    expect(manifest.inputGate?.oodStats).toBe('ood-stats.json');
    const { inputGate: _gate, ...older } = manifest;
    const plain = await createClassifier({ modelDir: shippedModelDir(), manifest: older, head: classifier.head, oodStats: null });
    try {
      const io = streams();
      const s = await runClassify([files.noise!, files.dark!], { progress: false }, plain, io);
      expect(s.rows[0]!.gate).toMatchObject({ verdict: 'ok', oodChecked: false });
      expect(s.rows[0]!.gate!.version).toMatch(/ood:none$/);
      expect(codes(s.rows[1])).toContain('too_dark');
      expect(codes(s.rows[1])).not.toContain('out_of_distribution');
      expect(io.text()).toContain(OOD_UNAVAILABLE);
    } finally {
      await plain.dispose();
    }
  }, 300_000);
});
