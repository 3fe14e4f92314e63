import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  centreSquareCrop,
  decodeOriented,
  fsErrorToImageError,
  prepareBuffer,
  prepareImage,
  shadesOfGrayGains,
} from '../../electron/model/preprocess.ts';
import { ImageInputError, INCEPTION_INPUT_SIZE, MOBILENET_INPUT_SIZE, type PreparedImage } from '../../electron/model/types.ts';
import { applyView } from '../../electron/model/views.ts';
import { augmentTransform } from '../../training/features/augment.ts';
import { prepareCentreZoom } from '../../training/studies/generalisation/centre-zoom.ts';
import { isRoot, makeHostileCorpus, nobodyCannotRead, pngDeclaring, projectModule, runAsNobody, type HostileCorpus } from '../helpers/hostile-corpus.ts';

let dir: string;
let corpus: HostileCorpus;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dermafuse-preprocess-'));
  corpus = await makeHostileCorpus(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const named = (name: string): string => {
  const f = corpus.good.find((g) => g.endsWith(`/${name}`));
  if (!f) throw new Error(`corpus has no ${name}`);
  return f;
};

/** Mean RGB of a square patch of an NHWC image. */
function patchMean(px: Float32Array, size: number, cx: number, cy: number, r = 3): [number, number, number] {
  const acc = [0, 0, 0];
  let n = 0;
  for (let y = cy - r; y <= cy + r; y++) {
    for (let x = cx - r; x <= cx + r; x++) {
      const o = (y * size + x) * 3;
      acc[0]! += px[o]!;
      acc[1]! += px[o + 1]!;
      acc[2]! += px[o + 2]!;
      n++;
    }
  }
  return acc.map((a) => a / n) as [number, number, number];
}

async function expectCode(p: Promise<unknown>, code: string, file?: string): Promise<ImageInputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(ImageInputError);
  const e = err as ImageInputError;
  if (code !== 'any') expect(e.code).toBe(code);
  if (file) {
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
  }
  return e;
}

function expectWellFormed(p: PreparedImage): void {
  expect(p.inception.length).toBe(INCEPTION_INPUT_SIZE * INCEPTION_INPUT_SIZE * 3);
  expect(p.mobilenet.length).toBe(MOBILENET_INPUT_SIZE * MOBILENET_INPUT_SIZE * 3);
  for (const arr of [p.inception, p.mobilenet]) {
    let min = Infinity;
    let max = -Infinity;
    for (const v of arr) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(Number.isFinite(min) && Number.isFinite(max)).toBe(true);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(255);
    expect(max - min).toBeGreaterThan(20); // not a blank image
  }
  expect(p.crop.left + p.crop.width).toBeLessThanOrEqual(p.width);
  expect(p.crop.top + p.crop.height).toBeLessThanOrEqual(p.height);
}

describe('prepareImage on good inputs', () => {
  it('prepares every good file of the hostile corpus', async () => {
    expect(corpus.good.length).toBeGreaterThanOrEqual(10);
    for (const f of corpus.good) {
      const p = await prepareImage(f);
      expect(p.file).toBe(f);
      expectWellFormed(p);
    }
  });

  it('crops the centre square of the shorter side and records it in original coordinates', async () => {
    const p = await prepareImage(named('plain.jpg'));
    expect([p.width, p.height]).toEqual([320, 240]);
    expect(p.crop).toEqual({ left: 40, top: 0, width: 240, height: 240 });
    expect(centreSquareCrop(150, 200)).toEqual({ left: 0, top: 25, width: 150, height: 150 });
    // The lesion is centred, so the crop centre is dark and a corner is skin-coloured.
    const centre = patchMean(p.inception, INCEPTION_INPUT_SIZE, 149, 149);
    const corner = patchMean(p.inception, INCEPTION_INPUT_SIZE, 8, 8);
    expect(centre[0]).toBeLessThan(120);
    expect(corner[0]).toBeGreaterThan(180);
  });

  it('honours EXIF orientation 6 (stored landscape, shown portrait)', async () => {
    const { file, width, height } = corpus.exifRotated;
    const p = await prepareImage(file);
    expect([p.width, p.height]).toEqual([width, height]);
    const s = INCEPTION_INPUT_SIZE;
    const top = patchMean(p.inception, s, s >> 1, 30);
    const bottom = patchMean(p.inception, s, s >> 1, s - 30);
    expect(top[0]).toBeGreaterThan(200);
    expect(top[2]).toBeLessThan(60);
    expect(bottom[2]).toBeGreaterThan(200);
    expect(bottom[0]).toBeLessThan(60);
    const o = await decodeOriented(file);
    expect([o.width, o.height]).toEqual([40, 60]);
  });

  it('converts CMYK JPEG and 16-bit PNG to 8-bit sRGB with the right colours', async () => {
    const skin = [0xd9, 0xa8, 0x8f];
    for (const name of ['cmyk.jpg', 'deep16.png', 'plain.jpg']) {
      const p = await prepareImage(named(name));
      const corner = patchMean(p.mobilenet, MOBILENET_INPUT_SIZE, 6, 6);
      // CMYK goes through a generic profile, so allow some colour shift but no inversion.
      corner.forEach((v, i) => expect(Math.abs(v - skin[i]!), `${name} channel ${i}`).toBeLessThan(name === 'cmyk.jpg' ? 30 : 6));
    }
  });

  it('expands greyscale to three equal channels', async () => {
    for (const name of ['grey.png', 'grey.jpg']) {
      const p = await prepareImage(named(name));
      for (let i = 0; i < p.mobilenet.length; i += 3 * 97) {
        expect(p.mobilenet[i]).toBe(p.mobilenet[i + 1]);
        expect(p.mobilenet[i + 1]).toBe(p.mobilenet[i + 2]);
      }
    }
  });

  it('flattens alpha on black', async () => {
    const p = await prepareImage(named('alpha.png'));
    const corner = patchMean(p.mobilenet, MOBILENET_INPUT_SIZE, 6, 6);
    // 50% alpha over black halves the skin colour.
    [0xd9 / 2, 0xa8 / 2, 0x8f / 2].forEach((v, i) => expect(Math.abs(corner[i]! - v)).toBeLessThan(4));
  });

  it('decodes by content, not by file name, and is deterministic', async () => {
    const bytes = await readFile(named('plain.jpg'));
    const a = await prepareBuffer(new Uint8Array(bytes), 'photo.png');
    const b = await prepareImage(named('plain.jpg'));
    expect(a.file).toBe('photo.png');
    expect(Buffer.from(a.inception.buffer).equals(Buffer.from(b.inception.buffer))).toBe(true);
  });

  it('downscales large images through one decode and keeps the geometry', async () => {
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#7f3f1f' } }).jpeg().toBuffer();
    const p = await prepareBuffer(big, 'big.jpg');
    expectWellFormedFlat(p);
    expect(p.crop).toEqual({ left: 500, top: 0, width: 2000, height: 2000 });
    const o = await decodeOriented(big, { maxSide: 600 });
    expect([o.width, o.height, o.originalWidth, o.originalHeight]).toEqual([600, 400, 3000, 2000]);
  });
});

function expectWellFormedFlat(p: PreparedImage): void {
  expect(p.inception.length).toBe(INCEPTION_INPUT_SIZE * INCEPTION_INPUT_SIZE * 3);
  const [r, g, b] = patchMean(p.inception, INCEPTION_INPUT_SIZE, 150, 150);
  expect(Math.abs(r - 0x7f)).toBeLessThan(4);
  expect(Math.abs(g - 0x3f)).toBeLessThan(4);
  expect(Math.abs(b - 0x1f)).toBeLessThan(4);
}

describe('prepareImage on hostile inputs', () => {
  it('rejects every bad file with its specific code, naming the file', async () => {
    expect(corpus.bad.length).toBeGreaterThanOrEqual(7);
    for (const { file, expect: code } of corpus.bad) {
      await expectCode(prepareImage(file), code, file);
    }
  });

  it('reports a missing file', async () => {
    const f = join(dir, 'does-not-exist.jpg');
    await expectCode(prepareImage(f), 'not_found', f);
  });

  it('reports a folder given as a file', async () => {
    await expectCode(prepareImage(dir), 'unreadable', dir);
  });

  it('rejects a declared 50,000 x 50,000 PNG from its header, without allocating it', async () => {
    const before = process.memoryUsage().rss;
    const e = await expectCode(prepareBuffer(await pngDeclaring(50_000, 50_000), 'huge.png'), 'too_large', 'huge.png');
    expect(e.message).toContain('50000x50000');
    // 2.5 gigapixels would be 7.5 GB of RGB; anything near that would show here.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('rejects a JPEG whose frame header declares 65,000 x 65,000', async () => {
    const jpeg = Buffer.from(await readFile(named('plain.jpg')));
    // Baseline (C0) or progressive (C2) start-of-frame: FF Cx, length(2), precision(1), height(2), width(2)
    let sof = -1;
    for (let i = 2; i < jpeg.length - 9; i++) {
      if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
        sof = i;
        break;
      }
    }
    expect(sof).toBeGreaterThan(0);
    jpeg.writeUInt16BE(65_000, sof + 5);
    jpeg.writeUInt16BE(65_000, sof + 7);
    await expectCode(prepareBuffer(jpeg, 'giant.jpg'), 'too_large', 'giant.jpg');
  });

  it('applies a caller-chosen pixel limit', async () => {
    await expectCode(prepareImage(named('plain.jpg'), { maxInputPixels: 320 * 240 - 1 }), 'too_large');
    await expect(prepareImage(named('plain.jpg'), { maxInputPixels: 320 * 240 })).resolves.toBeDefined();
  });

  it('rejects buffers that are empty, text, or a format we do not accept', async () => {
    await expectCode(prepareBuffer(Buffer.alloc(0), 'empty.jpg'), 'empty', 'empty.jpg');
    await expectCode(prepareBuffer(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'x.jpg'), 'unsupported_format');
    await expectCode(prepareBuffer(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), 'stub.jpg'), 'any', 'stub.jpg');
  });

  it('maps permission errors to unreadable', () => {
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const e = fsErrorToImageError(eacces, '/x/y.jpg');
    expect(e.code).toBe('unreadable');
    expect(e.message).toContain('/x/y.jpg');
  });

  it.skipIf(isRoot())('rejects a file without read permission (non-root)', async () => {
    const f = join(dir, 'noperm-direct.jpg');
    await writeFile(f, await readFile(named('plain.jpg')));
    await chmod(f, 0o000);
    await expectCode(prepareImage(f), 'unreadable', f);
  });

  // Root ignores file modes, so as root the real EACCES path is exercised in a child process that
  // drops to the unprivileged 'nobody' user (65534).
  it.runIf(isRoot())('rejects a file without read permission (child process as nobody)', async (ctx) => {
    const blocked = nobodyCannotRead([projectModule('electron/model/preprocess.ts'), createRequire(import.meta.url).resolve('sharp')]);
    if (blocked) {
      console.warn(`skipping the permission test as 'nobody': ${blocked}`);
      ctx.skip(blocked);
    }
    const sub = await mkdtemp(join(tmpdir(), 'dermafuse-noperm-'));
    try {
      await chmod(sub, 0o755);
      const f = join(sub, 'locked.jpg');
      await writeFile(f, await readFile(named('plain.jpg')));
      await chmod(f, 0o000);
      const out = await runAsNobody(
        `import { prepareImage } from ${JSON.stringify(projectModule('electron/model/preprocess.ts'))};\n` +
          `try { await prepareImage(${JSON.stringify(f)}); console.log('NO_ERROR'); }\n` +
          `catch (e) { console.log('CODE=' + e.code); }\n`,
      );
      expect(out).toContain('CODE=unreadable');
    } finally {
      await rm(sub, { recursive: true, force: true });
    }
  });
});

describe('options', () => {
  it('Shades of Gray removes a colour cast', async () => {
    // A neutral scene seen under a bluish light.
    const raw = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < 64 * 64; i++) {
      const v = 60 + (i % 64) * 2;
      raw[i * 3] = Math.round(v * 0.7);
      raw[i * 3 + 1] = Math.round(v * 0.85);
      raw[i * 3 + 2] = v;
    }
    const png = await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const plain = await prepareBuffer(png, 'cast.png');
    const fixed = await prepareBuffer(png, 'cast.png', { colorConstancy: 'shades_of_gray' });
    const spread = (px: Float32Array): number => {
      const m = [0, 0, 0];
      for (let i = 0; i < px.length; i++) m[i % 3]! += px[i]!;
      return Math.max(...m) / Math.min(...m);
    };
    expect(spread(plain.mobilenet)).toBeGreaterThan(1.3);
    expect(spread(fixed.mobilenet)).toBeLessThan(1.03);
    const g = shadesOfGrayGains(new Uint8Array([100, 100, 100, 50, 50, 50]));
    g.forEach((v) => expect(v).toBeCloseTo(1, 6));
  });

  it('a square transform (training augmentation) runs before the resize: flipH = the hflip view, zoom narrows the crop, rotate 90 turns the image', async () => {
    const f = corpus.exifRotated.file; // strongly asymmetric: red top, blue bottom
    const base = await prepareImage(named('plain.jpg'));
    const flipped = await prepareImage(named('plain.jpg'), { squareTransform: augmentTransform({ flipH: true }) });
    const ref = applyView(base.mobilenet, MOBILENET_INPUT_SIZE, 'hflip');
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - flipped.mobilenet[i]!));
    expect(maxDiff).toBeLessThanOrEqual(2);
    expect(flipped.crop).toEqual(base.crop);

    const zoomed = await prepareImage(named('plain.jpg'), { squareTransform: augmentTransform({ zoom: 2 }) });
    expect(zoomed.crop).toEqual({ left: 100, top: 60, width: 120, height: 120 });
    expect((await prepareCentreZoom(named('plain.jpg'), 2)).crop).toEqual(zoomed.crop);

    const turned = await prepareImage(f, { squareTransform: augmentTransform({ rotateDeg: 90 }) });
    const s = MOBILENET_INPUT_SIZE;
    // Clockwise quarter turn: red (top) moves to the right.
    expect(patchMean(turned.mobilenet, s, s - 20, s >> 1)[0]).toBeGreaterThan(200);
    expect(patchMean(turned.mobilenet, s, 20, s >> 1)[2]).toBeGreaterThan(200);
    // Bad parameters are programming errors, thrown before any work.
    expect(() => augmentTransform({ zoom: 0.5 })).toThrow(RangeError);
    expect(() => augmentTransform({ rotateDeg: Number.NaN })).toThrow(RangeError);
    await expect(prepareCentreZoom(f, 0.5)).rejects.toBeInstanceOf(RangeError);
  });
});
