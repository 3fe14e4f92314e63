/**
 * The classify command's own behaviour (rows, errors, CSV, overlay files, stale overlays, exit
 * code), driven with a stand-in classifier so it runs without backbone weights. The stand-in
 * uses the real preprocessing (so bad files fail exactly as in production) and the real overlay
 * code; its probability is simply the image's mean red level.
 */
import sharp from 'sharp';
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerClassify, runClassify, toCsv, type ClassifyIo } from '../../electron/cli/classify.ts';
import type { CamOptions, ExplainedResult } from '../../electron/model/classifier.ts';
import { normaliseMap } from '../../electron/model/gradcam.ts';
import { overlayPng, rawMapPng } from '../../electron/model/overlay.ts';
import { decodeOriented, prepareImage } from '../../electron/model/preprocess.ts';
import type { Classifier } from '../../electron/model/types.ts';

class StandInClassifier implements Classifier {
  readonly modelVersion = 'stand-in';
  calls = 0;
  async classifyFile(file: string, options: CamOptions = {}): Promise<ExplainedResult> {
    this.calls++;
    const prepared = await prepareImage(file);
    let red = 0;
    for (let i = 0; i < prepared.mobilenet.length; i += 3) red += prepared.mobilenet[i]!;
    const p = red / (prepared.mobilenet.length / 3) / 255;
    const classification = {
      pMalignant: p,
      pMalignantRaw: p,
      label: p >= 0.5 ? ('malignant' as const) : ('benign' as const),
      tier: p >= 0.8 ? ('high' as const) : p >= 0.3 ? ('review' as const) : ('low' as const),
      uncertainty: 0,
      threshold: 0.5,
      modelVersion: this.modelVersion,
      backend: { backbones: 'none', head: 'none' },
      timingsMs: {},
    };
    if (!options.cam) return { file, width: prepared.width, height: prepared.height, classification };
    const m = new Float32Array(49);
    m[24] = 1;
    const map = normaliseMap(7, 7, m);
    const image = await decodeOriented(file);
    const cams = [
      {
        kind: 'fused' as const,
        overlayPng: await overlayPng(image, map, prepared.crop, prepared.width, prepared.height),
        mapPng: await rawMapPng(map, prepared.crop, prepared.width, prepared.height),
        map,
        empty: false,
      },
    ];
    return { file, width: prepared.width, height: prepared.height, classification, cams };
  }
  classifyBuffer(): Promise<ExplainedResult> {
    throw new Error('not used');
  }
  async dispose(): Promise<void> {}
}

const quietIo = (): ClassifyIo => ({ stdout: process.stdout, stderr: Object.assign(process.stderr, {}) });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dermafuse-classify-'));
  await mkdir(join(dir, 'in', 'nested'), { recursive: true });
  // A 4:3 reddish image and a 3:4 dark one, both real JPEGs.
  await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 220, g: 40, b: 40 } } }).jpeg().toFile(join(dir, 'in', 'red, wide.jpg'));
  await sharp({ create: { width: 150, height: 200, channels: 3, background: { r: 30, g: 30, b: 30 } } }).png().toFile(join(dir, 'in', 'nested', 'dark.png'));
  await writeFile(join(dir, 'in', 'nested', 'notes.jpg'), 'this is not an image');
  await writeFile(join(dir, 'in', 'empty.png'), Buffer.alloc(0));
  await writeFile(join(dir, 'in', 'readme.txt'), 'folders only yield image extensions');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('classify command', () => {
  it('gives one row per image file, errors for bad files, and goes on', async () => {
    const c = new StandInClassifier();
    const s = await runClassify([join(dir, 'in'), join(dir, 'missing.jpg')], { progress: false }, c, quietIo());
    const byName = new Map(s.rows.map((r) => [r.path.split('/').pop()!, r]));
    expect([...byName.keys()].sort()).toEqual(['dark.png', 'empty.png', 'missing.jpg', 'notes.jpg', 'red, wide.jpg']);
    expect(byName.get('red, wide.jpg')!.label).toBe('malignant');
    expect(byName.get('dark.png')!.label).toBe('benign');
    expect(byName.get('empty.png')!.error).toMatch(/^empty:/);
    expect(byName.get('notes.jpg')!.error).toMatch(/^not_an_image:/);
    expect(byName.get('missing.jpg')!.error).toMatch(/^not_found:/);
    expect(byName.get('notes.jpg')!.p_malignant).toBeNull();
    expect([s.classified, s.failed]).toEqual([2, 3]);
  });

  it('writes CSV with the documented columns, quoting where needed', async () => {
    const s = await runClassify([join(dir, 'in')], { progress: false }, new StandInClassifier(), quietIo());
    const csv = toCsv(s.rows);
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe('path,p_malignant,label,tier,uncertainty,error');
    expect(lines).toHaveLength(1 + s.rows.length);
    const wide = lines.find((l) => l.includes('red, wide.jpg'))!;
    expect(wide.startsWith('"')).toBe(true); // the comma in the name is quoted
    expect(wide).toMatch(/",0\.\d+,malignant,(review|high),0,$/);
  });

  it('writes overlays on the original geometry for classified images only, and removes stale ones', async () => {
    const camDir = join(dir, 'cams');
    await mkdir(camDir, { recursive: true });
    // Left over from an earlier run: must not survive next to a file that now fails.
    await writeFile(join(camDir, 'notes.cam.png'), 'stale');
    await writeFile(join(camDir, 'notes.map.png'), 'stale');
    const s = await runClassify([join(dir, 'in')], { cam: camDir, progress: false }, new StandInClassifier(), quietIo());
    const wide = await sharp(join(camDir, 'red, wide.cam.png')).metadata();
    expect([wide.width, wide.height]).toEqual([320, 240]);
    const tall = await sharp(join(camDir, 'dark.cam.png')).metadata();
    expect([tall.width, tall.height]).toEqual([150, 200]);
    const raw = await sharp(join(camDir, 'dark.map.png')).metadata();
    expect(raw.channels).toBe(1);
    expect(raw.width! / raw.height!).toBeCloseTo(150 / 200, 1);
    expect(existsSync(join(camDir, 'notes.cam.png'))).toBe(false);
    expect(existsSync(join(camDir, 'notes.map.png'))).toBe(false);
    expect(existsSync(join(camDir, 'empty.cam.png'))).toBe(false);
    expect(s.rows.find((r) => r.path.endsWith('dark.png'))!.cam!.overlay).toBe(join(camDir, 'dark.cam.png'));
  });

  it('keeps overlay names apart when two folders hold files of the same name', async () => {
    const a = join(dir, 'dup', 'a');
    const b = join(dir, 'dup', 'b');
    await mkdir(a, { recursive: true });
    await mkdir(b, { recursive: true });
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).jpeg().toFile(join(a, 'x.jpg'));
    await sharp({ create: { width: 30, height: 40, channels: 3, background: '#808080' } }).jpeg().toFile(join(b, 'x.jpg'));
    const camDir = join(dir, 'dupcams');
    await runClassify([join(dir, 'dup')], { cam: camDir, progress: false }, new StandInClassifier(), quietIo());
    expect((await sharp(join(camDir, 'x.cam.png')).metadata()).width).toBe(40);
    expect((await sharp(join(camDir, 'x-2.cam.png')).metadata()).width).toBe(30);
  });

  it('reports nothing classified when every input is bad', async () => {
    const s = await runClassify([join(dir, 'in', 'empty.png'), join(dir, 'in', 'nested', 'notes.jpg')], { progress: false }, new StandInClassifier(), quietIo());
    expect(s.classified).toBe(0);
    expect(s.rows).toHaveLength(2);
  });

  it('the command exits non-zero with a clear message when the model cannot be loaded', async () => {
    const program = new Command('dermafuse').exitOverride();
    registerClassify(program);
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const before = process.exitCode;
    try {
      await program.parseAsync(['node', 'dermafuse', 'classify', '--model', join(dir, 'no-model'), join(dir, 'in')]);
      expect(process.exitCode).toBe(2);
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
    expect(written.join('')).toMatch(/cannot load the model: no model manifest at .*no-model/);
  });
});
