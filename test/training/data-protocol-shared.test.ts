import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedDir } from '../../electron/util/paths.ts';
import { buildProtocol } from '../../training/data/protocol.ts';

const data = sharedDir('data');
const present = existsSync(`${data}/ham10000/labels.csv`);
if (!present) console.warn(`skipping data protocol tests: ${data} (../shared/data) is absent`);

describe.skipIf(!present)('data protocol on ../shared/data', () => {
  it('keeps lesions, ISIC ids and content disjoint across partitions', async () => {
    const p = await buildProtocol();
    const roleOfLesion = new Map<string, string>();
    for (const it of p.items.filter((i) => i.source === 'ham10000')) {
      const seen = roleOfLesion.get(it.group);
      if (seen) expect(seen).toBe(it.evalSet);
      roleOfLesion.set(it.group, it.evalSet);
    }
    expect(new Set(p.items.map((i) => i.isicId)).size).toBe(p.items.length);
    const bySha = new Map<string, string>();
    for (const it of p.items) {
      const other = bySha.get(it.sha256);
      if (other) expect(other).toBe(it.evalSet);
      bySha.set(it.sha256, it.evalSet);
    }
    const i17val = p.items.filter((i) => i.source === 'isic2017' && i.file.includes('/val/'));
    expect(i17val.length).toBeGreaterThan(140);
    expect(i17val.every((i) => i.evalSet === 'test:isic2017')).toBe(true);
    expect(p.removed.filter((r) => r.reason === 'flagged').length).toBe(314);
    expect(p.items.some((i) => i.evalSet === 'test:ham10000') && p.items.some((i) => i.evalSet === 'val:ham10000')).toBe(true);
  }, 300_000);

  it('moves a whole held-out source into its own test set for leave-one-source-out', async () => {
    const p = await buildProtocol({ holdOut: 'isic2017' });
    const i17 = p.items.filter((i) => i.source === 'isic2017');
    expect(i17.every((i) => i.evalSet === 'loso:isic2017')).toBe(true);
    expect(p.items.filter((i) => i.role === 'train').every((i) => i.source !== 'isic2017')).toBe(true);
  }, 300_000);
});
