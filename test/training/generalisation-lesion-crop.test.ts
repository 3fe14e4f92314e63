import { describe, expect, it } from 'vitest';
import { findLesion, otsuThreshold, squareAround } from '../../training/studies/generalisation/lesion-crop.ts';

/** Light skin (200), a dark disc (60) centred at (cx, cy), optionally dark corners (20) outside a circle. */
function scene(w: number, h: number, cx: number, cy: number, r: number, vignette: boolean): Uint8Array {
  const g = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 200;
      if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) v = 60;
      if (vignette && (x - w / 2) ** 2 + (y - h / 2) ** 2 > (0.48 * Math.min(w, h)) ** 2) v = 20;
      g[y * w + x] = v;
    }
  }
  return g;
}

describe('otsuThreshold', () => {
  it('splits a bimodal histogram between its modes', () => {
    const v = Uint8Array.from([...Array(50).fill(40), ...Array(50).fill(180)]);
    const t = otsuThreshold(v);
    expect(t).toBeGreaterThanOrEqual(40);
    expect(t).toBeLessThan(180);
  });
});

describe('findLesion', () => {
  it('finds an off-centre dark lesion', () => {
    const l = findLesion(scene(128, 96, 90, 40, 12, false), 128, 96);
    expect(l).toBeDefined();
    expect(l!.box.left).toBeGreaterThanOrEqual(77);
    expect(l!.box.left + l!.box.width).toBeLessThanOrEqual(104);
    expect(l!.box.top).toBeGreaterThanOrEqual(27);
  });

  it('ignores a dark vignette that touches the border and still finds a small lesion inside it', () => {
    const l = findLesion(scene(128, 128, 64, 64, 6, true), 128, 128);
    expect(l).toBeDefined();
    expect(Math.abs(l!.box.left + l!.box.width / 2 - 64)).toBeLessThan(3);
    expect(l!.box.width).toBeLessThan(16);
  });

  it('gives up when the lesion runs off the image', () => {
    expect(findLesion(scene(100, 100, 0, 50, 30, false), 100, 100)).toBeUndefined();
  });
});

describe('squareAround', () => {
  it('adds the margin, stays inside the image and never zooms in beyond the bound', () => {
    expect(squareAround({ left: 80, top: 10, width: 40, height: 20 }, 200, 100, 0.25)).toEqual({ left: 70, top: 0, width: 60, height: 60 });
    const tiny = squareAround({ left: 5, top: 5, width: 4, height: 4 }, 200, 100);
    expect(tiny).toEqual({ left: 0, top: 0, width: 50, height: 50 });
    const big = squareAround({ left: 0, top: 0, width: 200, height: 100 }, 200, 100);
    expect(big.width).toBe(100);
    expect(big.left + big.width).toBeLessThanOrEqual(200);
  });
});
