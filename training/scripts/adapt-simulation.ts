/**
 * Simulation study of clinic adaptation (training/studies/adaptation/README.md): how much a clinic
 * gains by adapting the model with k of its own confirmed cases, using the app's own adaptation
 * maths (electron/model/adaptation) on cached frozen features.
 *
 *   npx tsx training/scripts/adapt-simulation.ts run [--sources isic2017,ham10000] [--ks 25,50,100,200,400]
 *       [--draws 5] [--repeats 3] [--no-shipped]
 *       Leave-one-source-out: fusion-v2's recipe trained without source S (cached after the first
 *       run), adapted with seeded class-stratified draws of k cases from S's non-test images, every
 *       method and the auto choice scored on S's test part. Then fusion-v2 itself adapted with all of
 *       ISIC 2017 official train, scored on the official val (test:isic2017). One JSONL line per
 *       cell under cacheDir('adaptation-sim'); a rerun skips finished cells. Prints the tables.
 *   npx tsx training/scripts/adapt-simulation.ts table [--out FILE]
 *       The markdown tables from the stored cells only.
 */
import { Command } from 'commander';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cacheDir } from '../../electron/util/paths.ts';
import { loadManifest } from '../../electron/model/manifest.ts';
import { buildProtocol, SOURCES, type Source } from '../data/protocol.ts';
import { losoBase, shippedBase, shippedRecipe, type SimulationBase } from '../studies/adaptation/base-models.ts';
import { caseSet, type CaseSet } from '../studies/adaptation/samples.ts';
import { adaptationPool, drawCases, drawSeed } from '../studies/adaptation/draws.ts';
import { simulateCell } from '../studies/adaptation/simulate.ts';
import { cellKey, type CellRecord, type TestPart } from '../studies/adaptation/records.ts';
import { markdownTables, summariseCells, type RowSummary } from '../studies/adaptation/summary.ts';
import type { Recipe } from '../build/experiment.ts';

const SHIPPED_DIR = join(import.meta.dirname, '..', '..', 'models', 'fusion-v2');
const root = (): string => cacheDir('adaptation-sim');
const cellsFile = (): string => join(root(), 'cells.jsonl');
const testFile = (study: string, source: string): string => join(root(), `test-${study}-${source}.json`);
/** Bumped when the draw logic or the record layout changes, so old cells are not mixed in. */
const STUDY_VERSION = 2;

/** The scoring part of a source: the standard protocol's test set (ISIC 2017 official val; HAM10000's lesion-disjoint test slice). */
function testSetOf(source: Source): string {
  if (source === 'isic9') throw new Error('the ISIC 9-class set has no test part (all its images train or validate): it cannot be scored');
  return `test:${source}`;
}

function readCells(): CellRecord[] {
  if (!existsSync(cellsFile())) return [];
  return readFileSync(cellsFile(), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CellRecord);
}

function storeTest(study: string, source: string, set: string, cases: CaseSet): TestPart {
  const part: TestPart = { source, set, ids: cases.items.map((i) => i.id), labels: cases.samples.map((s) => s.label), groups: cases.items.map((i) => i.group) };
  writeFileSync(testFile(study, source), JSON.stringify(part) + '\n');
  return part;
}

function settingsDigest(base: SimulationBase, cv: { repeats: number }, extra: Record<string, unknown> = {}): string {
  const what = { v: STUDY_VERSION, base: { name: base.name, t: base.temperature, b: base.calibrationBias, op: base.operating }, cv, ...extra };
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 12);
}

const program = new Command();

program
  .command('run')
  .option('--sources <list>', 'held-out sources to simulate', 'isic2017,ham10000')
  .option('--ks <list>', 'numbers of local cases', '25,50,100,200,400')
  .option('--draws <n>', 'seeded draws per k', '5')
  .option('--repeats <n>', "cross-validation repeats inside each adaptation (the app's default is 5)", '5')
  .option('--no-shipped', 'skip adapting the shipped fusion-v2 with ISIC 2017 official train')
  .action(async (o: { sources: string; ks: string; draws: string; repeats: string; shipped: boolean }) => {
    mkdirSync(root(), { recursive: true });
    const sources = o.sources.split(',') as Source[];
    for (const s of sources) if (!SOURCES.includes(s)) throw new Error(`unknown source ${s} (${SOURCES.join(', ')})`);
    sources.forEach(testSetOf);
    const ks = o.ks.split(',').map(Number);
    const draws = Number(o.draws);
    const cvOptions = { repeats: Number(o.repeats) };
    const recipe: Recipe = shippedRecipe(SHIPPED_DIR);
    const log = (line: string): void => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);

    const protocol = await buildProtocol();
    const done = new Set(readCells().map(cellKey));
    interface Plan {
      source: Source;
      base: SimulationBase;
      pool: CaseSet;
      test: CaseSet;
      settings: string;
    }
    const plans: Plan[] = [];
    for (const source of sources) {
      const set = testSetOf(source);
      const ofSource = protocol.items.filter((i) => i.source === source);
      const test = caseSet(
        ofSource.filter((i) => i.evalSet === set),
        recipe,
        recipe.tta,
      );
      const candidates = ofSource.filter((i) => i.role !== 'test');
      const pooled = caseSet(candidates, recipe, recipe.tta);
      // Defensive: the protocol already splits by group; a pool image sharing a test group would leak.
      const keep = new Set(adaptationPool(pooled.items, test.items).map((i) => i.id));
      const pool: CaseSet = { items: pooled.items.filter((i) => keep.has(i.id)), samples: pooled.samples.filter((_, k) => keep.has(pooled.items[k]!.id)), uncached: pooled.uncached };
      const melanoma = pool.samples.filter((s) => s.label === 1).length;
      log(`${source}: adaptation pool ${pool.samples.length} (${melanoma} melanoma; ${pool.uncached} left out without every TTA view cached), test ${set} ${test.samples.length} (${test.samples.filter((s) => s.label === 1).length} melanoma)`);
      const base = await losoBase(source, recipe, root(), log);
      storeTest('loso', source, set, test);
      plans.push({ source, base, pool, test, settings: settingsDigest(base, cvOptions, { pool: pool.samples.length }) });
    }

    const todo: { plan: Plan; k: number; draw: number }[] = [];
    // Draws outermost: a run stopped early still covers every k with fewer draws.
    for (let draw = 0; draw < draws; draw++) for (const plan of plans) for (const k of ks) todo.push({ plan, k, draw });
    const pending = todo.filter(({ plan, k, draw }) => !done.has(cellKey({ study: 'loso', source: plan.source, k, draw, settings: plan.settings })));
    log(`${todo.length - pending.length} of ${todo.length} simulation cells already stored; ${pending.length} to run`);
    const t0 = performance.now();
    let ran = 0;
    for (const { plan, k, draw } of pending) {
      const seed = drawSeed(plan.source, k, draw);
      const poolCases = plan.pool.items.map((item, i) => ({ id: item.id, group: item.group, label: plan.pool.samples[i]!.label, sample: plan.pool.samples[i]! }));
      const drawn = drawCases(poolCases, k, seed);
      const record = simulateCell({ study: 'loso', source: plan.source, k, draw, seed, settings: plan.settings, base: plan.base, cases: drawn.map((c) => c.sample), test: plan.test.samples, cv: cvOptions });
      appendFileSync(cellsFile(), JSON.stringify(record) + '\n');
      ran++;
      const elapsed = (performance.now() - t0) / 1000;
      const eta = (elapsed / ran) * (pending.length - ran);
      log(`[${todo.length - pending.length + ran}/${todo.length}] ${plan.source} k=${k} draw ${draw}: ${record.counts.melanoma} mel / ${record.counts.benign} ben, auto -> ${record.choice.method} (${record.seconds.toFixed(1)} s; eta ${Math.round(eta)} s)`);
    }

    if (o.shipped) {
      const base = await shippedBase(SHIPPED_DIR);
      const items = protocol.items.filter((i) => i.source === 'isic2017');
      const pool = caseSet(items.filter((i) => i.role !== 'test'), recipe, recipe.tta);
      const test = caseSet(items.filter((i) => i.evalSet === 'test:isic2017'), recipe, recipe.tta);
      storeTest('shipped', 'isic2017', 'test:isic2017', test);
      const settings = settingsDigest(base, cvOptions, { pool: pool.samples.length });
      const key = { study: 'shipped' as const, source: 'isic2017', k: pool.samples.length, draw: 0, settings };
      if (!readCells().some((c) => cellKey(c) === cellKey(key))) {
        log(`adapting ${base.name} with ISIC 2017 official train (${pool.samples.length} cases, ${pool.samples.filter((s) => s.label === 1).length} melanoma)...`);
        const record = simulateCell({ ...key, seed: drawSeed('shipped', pool.samples.length, 0), base, cases: pool.samples, test: test.samples, cv: cvOptions });
        appendFileSync(cellsFile(), JSON.stringify(record) + '\n');
        log(`${base.name} adapted: auto -> ${record.choice.method} (${record.seconds.toFixed(1)} s)`);
      }
    }
    console.log(tables(settingsOf(plans), o.shipped));
  });

/** The settings digests of this run's plans (only their cells are tabulated). */
function settingsOf(plans: readonly { settings: string }[]): Set<string> {
  return new Set(plans.map((p) => p.settings));
}

function readTest(study: string, source: string): TestPart {
  return JSON.parse(readFileSync(testFile(study, source), 'utf8')) as TestPart;
}

/** Markdown of every stored (study, source), newest settings per source unless `only` names them. */
function tables(only?: Set<string>, withShipped = true): string {
  const cells = readCells();
  const out: string[] = [];
  const latest = new Map<string, string>();
  for (const c of cells) latest.set(`${c.study}|${c.source}`, c.settings);
  // Leave-one-source-out sources first, then the shipped model's adaptation.
  const order = [...latest.entries()].sort(([a], [b]) => (a.startsWith('loso') === b.startsWith('loso') ? a.localeCompare(b) : a.startsWith('loso') ? -1 : 1));
  for (const [what, settings] of order) {
    const [study, source] = what.split('|') as [CellRecord['study'], string];
    if (study === 'shipped' && !withShipped) continue;
    if (study === 'loso' && only && !only.has(settings)) continue;
    const mine = cells.filter((c) => c.study === study && c.source === source && c.settings === settings);
    const test = readTest(study, source);
    const rows: RowSummary[] = [];
    for (const k of [...new Set(mine.map((c) => c.k))].sort((a, b) => a - b)) rows.push(...summariseCells(mine.filter((c) => c.k === k), test));
    const mel = test.labels.filter((y) => y === 1).length;
    out.push(study === 'loso' ? `### ${source}: base trained without ${source}; scored on ${test.set} (${test.labels.length} images, ${mel} melanoma)` : `### fusion-v2 adapted with all of ISIC 2017 official train; scored on ${test.set} (${test.labels.length} images, ${mel} melanoma)`);
    out.push('');
    const draws = [...new Set(mine.map((c) => c.draw))].length;
    const perK = [...new Set(mine.map((c) => c.k))].sort((a, b) => a - b).map((k) => {
      const ofK = mine.filter((c) => c.k === k);
      const folds = ofK.filter((c) => !c.refused).map((c) => c.cvFolds);
      const refused = ofK.filter((c) => c.refused).length;
      const range = folds.length ? (Math.min(...folds) === Math.max(...folds) ? `${folds[0]}` : `${Math.min(...folds)}-${Math.max(...folds)}`) : '-';
      return `k=${k}: ${ofK[0]!.counts.melanoma} melanoma / ${ofK[0]!.counts.benign} benign, ${range}-fold${refused ? `, refused by the app in ${refused} draw(s)` : ''}`;
    });
    out.push(`Draws per k: ${draws}; cross-validation repeats inside each adaptation: ${mine[0]!.cvRepeats}. ${perK.join('; ')}.`);
    out.push('');
    out.push(markdownTables(rows));
    if (study === 'shipped') {
      const m = (loadManifest(SHIPPED_DIR).metrics as Record<string, { auc: number; specificityAt90Sensitivity: number; sensitivity: number; specificity: number }>)['test:isic2017'];
      if (m) out.push(`\nfusion-v2's own manifest figure on test:isic2017: AUC ${m.auc.toFixed(3)}, spec@90 ${m.specificityAt90Sensitivity.toFixed(3)}, sensitivity / specificity at its threshold ${m.sensitivity.toFixed(3)} / ${m.specificity.toFixed(3)}.`);
      for (const c of mine) out.push(`\nAuto choice: ${c.choice.method}. ${c.choice.reasons.join(' ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}

program
  .command('table')
  .option('--out <file>', 'also write the markdown here')
  .action((o: { out?: string }) => {
    const md = tables();
    console.log(md);
    if (o.out) writeFileSync(o.out, md + '\n');
  });

await program.parseAsync();

