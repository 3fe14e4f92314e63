import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centreZoomBox, prepareCentreZoom } from '../../training/studies/generalisation/centre-zoom.ts';
import { centreSquareCrop, prepareImage } from '../../electron/model/preprocess.ts';

describe('centreZoomBox', () => {
  it('is the central half of the centre square at zoom 2 (landscape and portrait)', () => {
    expect(centreZoomBox(400, 300, 2)).toEqual({ left: 125, top: 75, width: 150, height: 150 });
    expect(centreZoomBox(300, 400, 2)).toEqual({ left: 75, top: 125, width: 150, height: 150 });
  });

  it('is the centre square itself at zoom 1 and stays centred on odd sizes', () => {
    expect(centreZoomBox(601, 450, 1)).toEqual(centreSquareCrop(601, 450));
    const b = centreZoomBox(601, 451, 2);
    const sq = centreSquareCrop(601, 451);
    expect(b.width).toBe(Math.round(sq.width / 2));
    expect(Math.abs(b.left + b.width / 2 - (sq.left + sq.width / 2))).toBeLessThanOrEqual(1);
    expect(Math.abs(b.top + b.height / 2 - (sq.top + sq.height / 2))).toBeLessThanOrEqual(1);
  });

  it('rejects zooms below 1', () => {
    expect(() => centreZoomBox(100, 100, 0.5)).toThrow(RangeError);
    expect(() => centreZoomBox(100, 100, Number.NaN)).toThrow(RangeError);
  });
});

describe('prepareCentreZoom', () => {
  let dir: string;
  let file: string;
  const box = centreZoomBox(400, 300, 2);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dermafuse-zoom-'));
    file = join(dir, 'scene.png');
    // Blue image, red exactly where the zoomed box is: the zoomed input must be all red.
    const red = await sharp({ create: { width: box.width, height: box.height, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
    await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .composite([{ input: red, left: box.left, top: box.top }])
      .png()
      .toFile(file);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('feeds MobileNetV2 the zoomed box only, and reports that box as its crop', async () => {
    const z = await prepareCentreZoom(file, 2);
    expect(z.crop).toEqual(box);
    expect(z.mobilenet.length).toBe(224 * 224 * 3);
    let blueish = 0;
    for (let i = 0; i < z.mobilenet.length; i += 3) if (z.mobilenet[i + 2]! > z.mobilenet[i]!) blueish++;
    expect(blueish).toBe(0);
  });

  it('differs from the standard input, which still shows the blue surround', async () => {
    const std = await prepareImage(file);
    const corner = std.mobilenet.subarray(0, 3);
    expect(corner[2]).toBeGreaterThan(200);
    expect(corner[0]).toBeLessThan(50);
  });
});
