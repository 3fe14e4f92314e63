/**
 * What a model version's input gate does, through the real classifier (its own shipped
 * out-of-distribution statistics and the quality thresholds): the share refused of held-out
 * dermoscopy sets and of the out-of-distribution sets that can be assembled here.
 *
 *   npx tsx training/scripts/gate-report.ts --model models/fusion-v3 [--faults-per-set 40] [--debian-per-set 30]
 *
 * Sets: the protocol's test sets (HAM10000 lesion-disjoint test, ISIC 2017 official val), all of
 * derm7pt (a clinic no model here was trained on), synthetic images, Debian photographs (where
 * their packages are installed) and seeded faults made from ISIC 2017 val images. Prints a
 * markdown table; writes nothing.
 */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createClassifier } from '../../electron/model/classifier.ts';
import { readLabelledFolder } from '../../electron/model/datasets.ts';
import { sharedDir } from '../../electron/util/paths.ts';
import { sha256Hex } from '../../electron/util/hash.ts';
import { buildProtocol } from '../data/protocol.ts';
import { debianSets, FAULTS, syntheticSets, withFault, type OodItem } from '../studies/input-gate/ood-sets.ts';

const opts = new Command()
  .requiredOption('--model <dir>', 'model folder')
  .option('--faults-per-set <n>', 'ISIC 2017 val images per simulated fault', '40')
  .option('--debian-per-set <n>', 'images per Debian set', '30')
  .option('--dermoscopy-per-set <n>', 'at most this many images of each held-out dermoscopy set (a fixed subset; default all)')
  .parse()
  .opts<{ model: string; faultsPerSet: string; debianPerSet: string; dermoscopyPerSet?: string }>();

interface Case {
  readonly set: string;
  readonly name: string;
  readonly bytes: () => Promise<Buffer>;
}

const fromFile = (set: string, file: string): Case => ({ set, name: file, bytes: () => readFile(file) });
const fromOod = (o: OodItem): Case => ({ set: o.set, name: o.id, bytes: o.bytes ?? (() => readFile(o.file!)) });

const protocol = await buildProtocol();
const tests = protocol.items.filter((i) => i.evalSet === 'test:ham10000' || i.evalSet === 'test:isic2017');
const derm7pt = readLabelledFolder(sharedDir('data', 'derm7pt'));
const isicVal = tests.filter((i) => i.evalSet === 'test:isic2017').sort((a, b) => a.sha256.localeCompare(b.sha256));
const faulted = FAULTS.flatMap((fault) =>
  isicVal.slice(0, Number(opts.faultsPerSet)).map((i): Case => ({ set: `fault:${fault}`, name: i.file, bytes: async () => withFault(await readFile(i.file), fault) })),
);
// A fixed subset (by content hash or path, not by label or order) when the sets are capped.
const cap = opts.dermoscopyPerSet ? Number(opts.dermoscopyPerSet) : Infinity;
const capped = (set: string, files: readonly { key: string; file: string }[]): Case[] =>
  [...files].sort((a, b) => a.key.localeCompare(b.key)).slice(0, cap).map((f) => fromFile(set, f.file));
const cases: Case[] = [
  ...['test:ham10000', 'test:isic2017'].flatMap((set) => capped(set, tests.filter((i) => i.evalSet === set).map((i) => ({ key: i.sha256, file: i.file })))),
  ...capped('derm7pt', derm7pt.map((r) => ({ key: sha256Hex(r.file), file: r.file }))),
  ...syntheticSets().map(fromOod),
  ...debianSets(Number(opts.debianPerSet)).map(fromOod),
  ...faulted,
];

const classifier = await createClassifier({ modelDir: resolve(opts.model) });
const tally = new Map<string, { n: number; refused: number; ood: number; quality: number; errors: number }>();
let done = 0;
for (const c of cases) {
  const t = tally.get(c.set) ?? { n: 0, refused: 0, ood: 0, quality: 0, errors: 0 };
  tally.set(c.set, t);
  t.n++;
  try {
    const r = await classifier.classifyBuffer(await c.bytes(), c.name);
    const gate = r.classification.gate;
    if (gate?.verdict === 'refused') {
      t.refused++;
      if (gate.reasons.some((x) => x.code === 'out_of_distribution')) t.ood++;
      if (gate.reasons.some((x) => x.code !== 'out_of_distribution')) t.quality++;
    }
  } catch {
    // An image the pipeline cannot decode is refused before the gate; counted apart.
    t.errors++;
  }
  if (++done % 100 === 0) process.stderr.write(`${done}/${cases.length}\n`);
}
await classifier.dispose();

const pct = (k: number, n: number): string => `${((100 * k) / Math.max(n, 1)).toFixed(1)}%`;
console.log(`Input gate of ${join(resolve(opts.model))}: share refused per set`);
console.log('| set | n | refused | by quality checks | out of distribution | unreadable |');
console.log('|---|---|---|---|---|---|');
for (const [set, t] of tally) console.log(`| ${set} | ${t.n} | ${pct(t.refused, t.n)} | ${pct(t.quality, t.n)} | ${pct(t.ood, t.n)} | ${t.errors} |`);
