/**
 * From cached pooled features to the OOD statistics file and the measurement tables: fit on the
 * training sample, write ood-stats.json/.bin, read them back through the runtime code
 * (electron/model/input-gate/ood.ts) and score every image with it, so the figures are those of
 * the code that will run in the app.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedThresholds } from '../../../electron/model/input-gate/gate.ts';
import { decodeOodStats, encodeOodStats, energyScore, OOD_BIN, OOD_JSON, oodScores, type OodStats } from '../../../electron/model/input-gate/ood.ts';
import { judgeQuality } from '../../../electron/model/input-gate/quality.ts';
import { qualityRules } from '../../../electron/model/input-gate/thresholds.ts';
import { auc } from '../../../electron/model/metrics.ts';
import { fitBranch, percentile } from './ood-stats.ts';
import type { ModelParts, PooledRecord, StudyItem } from './ood-study.ts';

export interface SetRow {
  set: string;
  role: string;
  n: number;
  /** Shares of the set refused by each stage and by either. */
  quality: number;
  ood: number;
  energy: number;
  either: number;
  /** AUROC against the validation sample (OOD sets only). */
  auroc?: Record<string, number>;
  /** Counts of quality reason codes. */
  reasons: Record<string, number>;
  /** Min, 5th, 50th, 95th percentile and max of the gate's OOD score in this set. */
  spread?: [number, number, number, number, number];
}

export interface OodReport {
  model: string;
  k: number;
  percentile: number;
  use: 'mahalanobis' | 'energy';
  thresholds: { mahalanobis: number; energy: number };
  training: { n: number; bySource: Record<string, number> };
  validation: { n: number; bySource: Record<string, number> };
  branches: { name: string; shrinkage: number; explainedVariance: number; k: number }[];
  rows: SetRow[];
  statsBytes: number;
  missing: number;
  /** Refused / caught shares at other thresholds, for the trade-off. */
  sweep: { label: string; threshold: number; shares: Record<string, number> }[];
}

const spread = (v: number[]): [number, number, number, number, number] => [Math.min(...v), percentile(v, 5), percentile(v, 50), percentile(v, 95), Math.max(...v)];

const count = (xs: readonly string[]): Record<string, number> => xs.reduce<Record<string, number>>((acc, x) => ((acc[x] = (acc[x] ?? 0) + 1), acc), {});

export function analyseOod(items: readonly StudyItem[], pooled: ReadonlyMap<string, PooledRecord>, parts: Pick<ModelParts, 'manifest'>, o: { k: number; percentile: number; use: 'mahalanobis' | 'energy'; outDir: string; command: string }): OodReport {
  const have = items.filter((i) => pooled.has(i.id));
  const train = have.filter((i) => i.role === 'train');
  const val = have.filter((i) => i.role === 'val');
  if (train.length < 2 * o.k || val.length < 50) throw new Error(`too few images extracted yet (train ${train.length}, val ${val.length}); run again to resume`);

  const fit = (branch: 'inception' | 'mobilenet'): ReturnType<typeof fitBranch> => {
    const d = pooled.get(train[0]!.id)![branch].length;
    const x = new Float64Array(train.length * d);
    train.forEach((it, r) => x.set(pooled.get(it.id)![branch], r * d));
    return fitBranch(branch, x, train.length, d, train.map((t) => t.label), ['benign', 'malignant'], { k: o.k, seed: 11 });
  };
  const branches = [fit('inception'), fit('mobilenet')];

  // Score through the runtime path (encode -> decode -> oodScores).
  const draft = encodeOodStats(
    {
      format: 'dermafuse-ood-stats/1',
      modelVersion: parts.manifest.version,
      createdAt: new Date().toISOString(),
      view: 'identity',
      binFile: OOD_BIN,
      training: { n: train.length, bySource: count(train.map((t) => t.source ?? '?')), command: o.command },
      use: o.use,
      mahalanobis: { threshold: 0, percentile: o.percentile, validation: { n: val.length, bySource: count(val.map((v) => v.source ?? '?')) } },
      energy: { threshold: 0, percentile: o.percentile, validation: { n: val.length, bySource: count(val.map((v) => v.source ?? '?')) } },
    },
    branches,
  );
  const stats0: OodStats = decodeOodStats(draft.header, draft.bin);
  const scoreOf = (id: string): ReturnType<typeof oodScores> => {
    const r = pooled.get(id)!;
    return oodScores(stats0, { inception: r.inception, mobilenet: r.mobilenet }, r.logits);
  };
  const scores = new Map(have.map((i) => [i.id, scoreOf(i.id)]));
  const valMaha = val.map((v) => scores.get(v.id)!.mahalanobis);
  const valEnergy = val.map((v) => scores.get(v.id)!.energy!);
  const thresholds = { mahalanobis: percentile(valMaha, o.percentile), energy: percentile(valEnergy, o.percentile) };

  const header = { ...draft.header, mahalanobis: { ...draft.header.mahalanobis, threshold: thresholds.mahalanobis }, energy: { ...draft.header.energy, threshold: thresholds.energy } };
  writeFileSync(join(o.outDir, OOD_BIN), draft.bin);

  const rules = qualityRules(shippedThresholds());
  const variants: Record<string, (id: string) => number> = {
    mahalanobis: (id) => scores.get(id)!.mahalanobis,
    'inception only': (id) => scores.get(id)!.branches.inception!.score,
    'mobilenet only': (id) => scores.get(id)!.branches.mobilenet!.score,
    'subspace D2 only': (id) => (scores.get(id)!.branches.inception!.d2 + scores.get(id)!.branches.mobilenet!.d2) / 2,
    'residual only': (id) => (scores.get(id)!.branches.inception!.residual + scores.get(id)!.branches.mobilenet!.residual) / 2,
    energy: (id) => energyScore(pooled.get(id)!.logits),
  };
  const sets = [...new Set(have.map((i) => i.set))];
  const rows: SetRow[] = sets.map((set) => {
    const members = have.filter((i) => i.set === set);
    const q = members.map((m) => judgeQuality(pooled.get(m.id)!.quality, rules));
    const oodHit = members.map((m) => scores.get(m.id)![o.use]! > thresholds[o.use]);
    const energyHit = members.map((m) => scores.get(m.id)!.energy! > thresholds.energy);
    const row: SetRow = {
      set,
      role: members[0]!.role,
      n: members.length,
      quality: q.filter((v) => v.verdict === 'refused').length / members.length,
      ood: oodHit.filter(Boolean).length / members.length,
      energy: energyHit.filter(Boolean).length / members.length,
      either: members.filter((_, i) => q[i]!.verdict === 'refused' || oodHit[i]).length / members.length,
      reasons: count(q.flatMap((v) => [...new Set(v.reasons.map((r) => r.code))])),
      spread: spread(members.map((m) => scores.get(m.id)![o.use]!)),
    };
    if (members[0]!.role === 'ood') {
      row.auroc = Object.fromEntries(
        Object.entries(variants).map(([name, f]) => {
          const s = [...val.map((v) => f(v.id)), ...members.map((m) => f(m.id))];
          const l = [...val.map(() => 0), ...members.map(() => 1)];
          return [name, auc(s, l)];
        }),
      );
    }
    return row;
  });
  const allOod = have.filter((i) => i.role === 'ood');
  const allRow: SetRow = {
    set: 'all OOD sets',
    role: 'ood',
    n: allOod.length,
    quality: rows.filter((r) => r.role === 'ood').reduce((a, r) => a + r.quality * r.n, 0) / allOod.length,
    ood: rows.filter((r) => r.role === 'ood').reduce((a, r) => a + r.ood * r.n, 0) / allOod.length,
    energy: rows.filter((r) => r.role === 'ood').reduce((a, r) => a + r.energy * r.n, 0) / allOod.length,
    either: rows.filter((r) => r.role === 'ood').reduce((a, r) => a + r.either * r.n, 0) / allOod.length,
    reasons: {},
    auroc: Object.fromEntries(
      Object.entries(variants).map(([name, f]) => [name, auc([...val.map((v) => f(v.id)), ...allOod.map((m) => f(m.id))], [...val.map(() => 0), ...allOod.map(() => 1)])]),
    ),
  };
  rows.push(allRow);
  const evidence = { rows: rows.map((r) => ({ set: r.set, n: r.n, quality: r.quality, ood: r.ood, either: r.either, auroc: r.auroc?.[o.use] })) };
  writeFileSync(join(o.outDir, OOD_JSON), JSON.stringify({ ...header, evidence }, null, 2) + '\n');
  writeFileSync(
    join(o.outDir, 'ood-scores.jsonl'),
    have.map((i) => JSON.stringify({ id: i.id, set: i.set, role: i.role, mahalanobis: scores.get(i.id)!.mahalanobis, energy: scores.get(i.id)!.energy, branches: scores.get(i.id)!.branches, quality: judgeQuality(pooled.get(i.id)!.quality, rules).reasons.map((r) => r.code) })).join('\n') + '\n',
  );

  const sweepSets = sets.filter((x) => !x.startsWith('train:'));
  const sweepAt = (label: string, t: number): OodReport['sweep'][number] => ({
    label,
    threshold: t,
    shares: Object.fromEntries(sweepSets.map((set) => {
      const m = have.filter((i) => i.set === set);
      return [set, m.filter((i) => scores.get(i.id)![o.use]! > t).length / m.length];
    })),
  });
  const valUse = val.map((v) => scores.get(v.id)![o.use]!);
  const sweep = [
    sweepAt('val p99', percentile(valUse, 99)),
    sweepAt('val p99.5 (used)', thresholds[o.use]),
    sweepAt('val p99.9', percentile(valUse, 99.9)),
    sweepAt('val max', Math.max(...valUse)),
  ];

  return {
    sweep,
    model: parts.manifest.version,
    k: o.k,
    percentile: o.percentile,
    use: o.use,
    thresholds,
    training: header.training,
    validation: header.mahalanobis.validation,
    branches: branches.map((b) => ({ name: b.name, shrinkage: b.shrinkage, explainedVariance: b.explainedVariance, k: b.k })),
    rows,
    statsBytes: draft.bin.byteLength,
    missing: items.length - have.length,
  };
}

export function printOodReport(r: OodReport): void {
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
  console.log(`model ${r.model}; k = ${r.k}; statistics from ${r.training.n} training images ${JSON.stringify(r.training.bySource)}; ood-stats.bin ${(r.statsBytes / 1e6).toFixed(2)} MB`);
  for (const b of r.branches) console.log(`  ${b.name}: Ledoit-Wolf shrinkage ${b.shrinkage.toFixed(3)}, subspace explains ${pct(b.explainedVariance)} of the standardised variance`);
  console.log(`thresholds at the ${r.percentile}th percentile of ${r.validation.n} validation images: mahalanobis ${r.thresholds.mahalanobis.toFixed(3)}, energy ${r.thresholds.energy.toFixed(3)}; the gate uses ${r.use}`);
  if (r.missing > 0) console.log(`(${r.missing} images not extracted yet)`);
  const sp = (row: SetRow): string => (row.spread ?? []).map((v) => v.toFixed(1)).join(' / ');
  console.log('\nIn-distribution (share wrongly refused):\n| set | n | quality | OOD | either | energy (alt.) | OOD score min / p5 / median / p95 / max |\n|---|---|---|---|---|---|---|');
  for (const row of r.rows.filter((x) => x.role !== 'ood')) console.log(`| ${row.set} | ${row.n} | ${pct(row.quality)} | ${pct(row.ood)} | ${pct(row.either)} | ${pct(row.energy)} | ${sp(row)} |`);
  console.log('\nThreshold trade-off (share of each set above the threshold, OOD score only):');
  const sets = Object.keys(r.sweep[0]?.shares ?? {});
  console.log(`| threshold | ${sets.join(' | ')} |\n|${'---|'.repeat(sets.length + 1)}`);
  for (const s of r.sweep) console.log(`| ${s.label} = ${s.threshold.toFixed(2)} | ${sets.map((x) => pct(s.shares[x]!)).join(' | ')} |`);
  console.log('\nOOD score spread per OOD set (min / p5 / median / p95 / max):');
  for (const row of r.rows.filter((x) => x.role === 'ood' && x.spread)) console.log(`  ${row.set}: ${sp(row)}`);
  const names = Object.keys(r.rows.find((x) => x.auroc)?.auroc ?? {});
  console.log(`\nOut-of-distribution (share caught; AUROC vs validation):\n| set | n | quality | OOD (${r.use}) | either | energy (alt.) | ${names.map((n) => `AUROC ${n}`).join(' | ')} | quality reasons |\n|${'---|'.repeat(6 + names.length + 1)}`);
  for (const row of r.rows.filter((x) => x.role === 'ood')) {
    console.log(`| ${row.set} | ${row.n} | ${pct(row.quality)} | ${pct(row.ood)} | ${pct(row.either)} | ${pct(row.energy)} | ${names.map((n) => row.auroc![n]!.toFixed(3)).join(' | ')} | ${Object.entries(row.reasons).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  }
}
