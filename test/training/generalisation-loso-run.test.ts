import { describe, expect, it } from 'vitest';
import type { ProtocolItem } from '../../training/data/protocol.ts';
import type { BlockReader, FeatureBlock } from '../../training/studies/generalisation/features.ts';
import { runLosoConfig, type LosoConfig, type MemberConfig } from '../../training/studies/generalisation/loso-run.ts';
import type { PatientMetadata } from '../../training/studies/generalisation/metadata.ts';
import { auc, seededRandom } from '../../electron/model/metrics.ts';

const SETTINGS = { epochs: 15, batchSize: 64, learningRate: 5e-3, l2: 1e-3, seed: 3 };
const INC: FeatureBlock = { kind: 'inception', layer: 'mixed6', pooling: 'avg' };
const MOB: FeatureBlock = { kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none' };

/** Items whose features carry the label in column 0 (inception) and column 0 (mobilenet), with noise. */
function world(n: number, seed: number, prefix: string) {
  const random = seededRandom(seed);
  const items: ProtocolItem[] = [];
  const inc = new Map<string, number[]>();
  const mob = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const label = i % 3 === 0 ? 'malignant' : i % 11 === 0 ? 'other_malignant' : 'benign';
    const y = label === 'malignant' ? 1 : 0;
    const sha = `${prefix}${i}`.padStart(64, '0');
    items.push({ id: `isic9:${prefix}${i}`, source: 'isic9', file: '', isicId: '', group: `${prefix}${i}`, label, diagnosis: '', role: 'train', evalSet: 'train', sha256: sha });
    inc.set(sha, [y + random() * 1.5, random(), random(), random()]);
    mob.set(sha, [y + random() * 2, random()]);
  }
  return { items, inc, mob };
}

function readerOf(tables: { inc: Map<string, number[]>; mob: Map<string, number[]> }[]): (b: FeatureBlock) => BlockReader {
  return (b) => ({
    read(_view, keys, segments) {
      const width = (b.kind === 'inception' ? 4 : 2) * segments.length;
      const matrix = new Float32Array(keys.length * width);
      const missing: number[] = [];
      keys.forEach((k, i) => {
        const row = tables.map((t) => (b.kind === 'inception' ? t.inc : t.mob).get(k)).find(Boolean);
        if (row) matrix.set(row.slice(0, width), i * width);
        else missing.push(i);
      });
      return { matrix, width, missing };
    },
  });
}

describe('runLosoConfig', () => {
  const train = world(600, 1, 'a');
  const test = world(240, 2, 'b');
  // One test image has no features at all: it must be left unscored, not scored as zeros.
  test.items.push({ ...test.items[0]!, id: 'isic9:nofeatures', sha256: 'f'.repeat(64) });
  const reader = readerOf([train, test]);
  const member = (blocks: FeatureBlock[], extra: Partial<MemberConfig> = {}): MemberConfig => ({ blocks, head: { hidden: [], dropout: 0, train: SETTINGS }, ...extra });
  const run = (c: LosoConfig, metadata?: Map<string, PatientMetadata>) => runLosoConfig(c, { train: train.items, test: test.items }, { reader, ...(metadata ? { metadata } : {}) });

  it('trains on melanoma vs benign and scores every test image that has features', async () => {
    const logits = await run({ name: 'fusion', members: [member([INC, MOB])] });
    expect(logits.has('isic9:nofeatures')).toBe(false);
    expect(logits.size).toBe(240);
    const scored = test.items.filter((i) => i.label !== 'other_malignant' && logits.has(i.id));
    expect(auc(scored.map((i) => logits.get(i.id)!), scored.map((i) => (i.label === 'malignant' ? 1 : 0)))).toBeGreaterThan(0.8);
  });

  it('an ensemble scores the mean logit of its members', async () => {
    const a = await run({ name: 'a', members: [member([INC])] });
    const b = await run({ name: 'b', members: [member([MOB])] });
    const both = await run({ name: 'late', members: [member([INC]), member([MOB])] });
    for (const id of ['isic9:b0', 'isic9:b7', 'isic9:b100']) expect(both.get(id)!).toBeCloseTo((a.get(id)! + b.get(id)!) / 2, 5);
  });

  it('ignores metadata fields that training never saw, so present-but-unseen metadata changes nothing', async () => {
    const metadata = new Map<string, PatientMetadata>(test.items.map((i, k) => [i.id, { age: 20 + (k % 60), site: 'trunk' as const }]));
    const use = { allRate: 0.3, fieldRate: 0.2 };
    const given = await run({ name: 'm', members: [member([INC], { metadata: { ...use, atTest: 'given' } })] }, metadata);
    const hidden = await run({ name: 'm', members: [member([INC], { metadata: { ...use, atTest: 'hidden' } })] }, metadata);
    for (const id of ['isic9:b1', 'isic9:b50']) expect(given.get(id)!).toBeCloseTo(hidden.get(id)!, 6);
  });
});
