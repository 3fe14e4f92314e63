import { describe, expect, it } from 'vitest';
import { VIEWS, applyView, inverseView, invertViewOnMap, transformGrid } from '../../electron/model/views.ts';

/** 3x3 RGB image whose red channel holds the pixel index, so positions can be read back. */
function indexed(size: number): Float32Array {
  const px = new Float32Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    px[i * 3] = i;
    px[i * 3 + 1] = 1000 + i;
    px[i * 3 + 2] = 2000 + i;
  }
  return px;
}
const red = (px: Float32Array): number[] => Array.from(px.filter((_, i) => i % 3 === 0));

describe('applyView', () => {
  // 0 1 2
  // 3 4 5
  // 6 7 8
  it.each([
    ['identity', [0, 1, 2, 3, 4, 5, 6, 7, 8]],
    ['hflip', [2, 1, 0, 5, 4, 3, 8, 7, 6]],
    ['vflip', [6, 7, 8, 3, 4, 5, 0, 1, 2]],
    ['rot90', [6, 3, 0, 7, 4, 1, 8, 5, 2]], // clockwise: the left column becomes the top row
    ['rot180', [8, 7, 6, 5, 4, 3, 2, 1, 0]],
    ['rot270', [2, 5, 8, 1, 4, 7, 0, 3, 6]],
  ] as const)('%s permutes pixels as expected and keeps channels together', (view, expected) => {
    const out = applyView(indexed(3), 3, view);
    expect(red(out)).toEqual(expected);
    for (let i = 0; i < 9; i++) {
      expect(out[i * 3 + 1]).toBe(1000 + out[i * 3]!);
      expect(out[i * 3 + 2]).toBe(2000 + out[i * 3]!);
    }
  });

  it('does not modify its input', () => {
    const px = indexed(4);
    const copy = px.slice();
    applyView(px, 4, 'rot90');
    expect(px).toEqual(copy);
  });

  it('rejects a size that does not match the data', () => {
    expect(() => applyView(indexed(3), 4, 'hflip')).toThrow(RangeError);
  });
});

describe('invertViewOnMap', () => {
  it('undoes every view on square and non-square maps', () => {
    for (const view of VIEWS) {
      for (const [w, h] of [[7, 7], [5, 3]] as const) {
        const map = Float32Array.from({ length: w * h }, (_, i) => i * 0.5);
        const viewed = transformGrid(map, w, h, 1, view);
        const back = invertViewOnMap(viewed.data, viewed.width, viewed.height, view);
        expect(Array.from(back), `${view} ${w}x${h}`).toEqual(Array.from(map));
      }
    }
  });

  it('quarter turns swap the map size; inverses pair up', () => {
    const g = transformGrid(new Float32Array(15), 5, 3, 1, 'rot90');
    expect([g.width, g.height]).toEqual([3, 5]);
    expect(inverseView('rot90')).toBe('rot270');
    expect(inverseView('rot270')).toBe('rot90');
    expect(inverseView('hflip')).toBe('hflip');
  });

  it('a map that marks a spot on a flipped view lands on the mirrored spot', () => {
    // A hot spot at the top-left of the hflipped view is the top-right of the image.
    const map = new Float32Array(16);
    map[0] = 1;
    const back = invertViewOnMap(map, 4, 4, 'hflip');
    expect(back.indexOf(1)).toBe(3);
  });
});
