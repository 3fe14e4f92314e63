import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blockName } from '../../training/studies/generalisation/features.ts';
import { generalisationMobilenetStore, mobilenetBlockChannels } from '../../training/studies/generalisation/mobilenet-extract.ts';
import { mobilenetSpace } from '../../training/features/extract.ts';
import { spaceKey } from '../../training/features/feature-cache.ts';

const root = mkdtempSync(join(tmpdir(), 'dermafuse-blocks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('mobilenetBlockChannels', () => {
  it('gives the channels of the 14x14 and 7x7 stage outputs and rejects unknown names', () => {
    expect(mobilenetBlockChannels('expanded_conv_13')).toBe(96);
    expect(mobilenetBlockChannels('expanded_conv_16')).toBe(160);
    expect(mobilenetBlockChannels('expanded_conv_17')).toBe(320);
    expect(() => mobilenetBlockChannels('expanded_conv_0')).toThrow(/unknown MobileNetV2 block/);
  });
});

describe('generalisationMobilenetStore', () => {
  it('keeps the key of the existing final-map store, so earlier caches stay readable', () => {
    expect(spaceKey(generalisationMobilenetStore('none', root).space)).toBe(spaceKey(mobilenetSpace('none')));
  });

  it('gives each block and the zoom crop a space of their own, with avg and max segments', () => {
    const b13 = generalisationMobilenetStore('none', root, 'centre', 'expanded_conv_13');
    const b16 = generalisationMobilenetStore('none', root, 'centre', 'expanded_conv_16');
    const zoom = generalisationMobilenetStore('none', root, 'centre-zoom2');
    expect(b13.width).toBe(192);
    expect(b13.segmentRanges(['expanded_conv_13/avg'])).toEqual([{ start: 0, length: 96 }]);
    const keys = new Set([b13, b16, zoom, generalisationMobilenetStore('none', root)].map((s) => spaceKey(s.space)));
    expect(keys.size).toBe(4);
  });

  it('names feature blocks distinctly for the block and the crop', () => {
    const names = new Set([
      blockName({ kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none' }),
      blockName({ kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none', block: 'expanded_conv_13' }),
      blockName({ kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none', crop: 'centre-zoom2' }),
      blockName({ kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none', crop: 'lesion' }),
    ]);
    expect(names.size).toBe(4);
    expect(blockName({ kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none', crop: 'lesion' })).toBe('mob-avg-lesioncrop');
  });
});
