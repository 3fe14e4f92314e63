/**
 * One LOSO configuration on one fold: assemble the feature matrix (plus metadata), train a head
 * (or a small ensemble: mean logit of its members), score the held-out images (mean logit over
 * the test-time views).
 */
import type { ProtocolItem } from '../../data/protocol.ts';
import { trainingTarget } from '../../build/experiment.ts';
import { fitNormalisation } from '../../head/train-head.ts';
import { hstack, readBlocks, selectRows, type BlockReader, type FeatureBlock } from './features.ts';
import type { LosoFold } from './loso.ts';
import { matrixLogits, trainMatrixHead, type MatrixHeadSettings } from './matrix-head.ts';
import { metadataDropout, metadataMatrix, METADATA_WIDTH, observedFields, type PatientMetadata } from './metadata.ts';

export interface MetadataUse {
  /** Probability that a training record loses every field / each field independently. */
  readonly allRate: number;
  readonly fieldRate: number;
  /** 'given': test images keep their metadata; 'hidden': scored as if none were recorded. */
  readonly atTest: 'given' | 'hidden';
}

export interface MemberConfig {
  readonly blocks: readonly FeatureBlock[];
  readonly head: MatrixHeadSettings;
  readonly metadata?: MetadataUse;
  /** Views averaged (mean logit) at test time; default identity only. */
  readonly tta?: readonly string[];
  /**
   * Per-domain feature standardisation: each training source with its own statistics, the test
   * images with theirs (unlabelled, so usable by a clinic on its own first images).
   */
  readonly domainNorm?: boolean;
}

export interface LosoConfig {
  readonly name: string;
  /** Ensemble members (mean logit); one member = a single head. */
  readonly members: readonly MemberConfig[];
}

export function configBlocks(c: LosoConfig): FeatureBlock[] {
  const seen = new Map<string, FeatureBlock>();
  for (const m of c.members) for (const b of m.blocks) seen.set(JSON.stringify(b), b);
  return [...seen.values()];
}

export function configViews(c: LosoConfig): string[] {
  return [...new Set(c.members.flatMap((m) => m.tta ?? ['identity']))];
}

export interface RunContext {
  readonly metadata?: ReadonlyMap<string, PatientMetadata>;
  /** Where feature blocks are read from (default: the feature caches). */
  readonly reader?: (b: FeatureBlock) => BlockReader;
}

async function runMember(member: MemberConfig, train: readonly ProtocolItem[], test: readonly ProtocolItem[], ctx: RunContext): Promise<Map<string, number>> {
  const targets = train.map((i) => trainingTarget(i, { otherMalignant: 'exclude' }));
  const trainable = train.filter((_, k) => targets[k] !== undefined);
  const m = readBlocks(member.blocks, trainable.map((i) => i.sha256), 'identity', ctx.reader);
  const keep = trainable.map((_, k) => k).filter((k) => !m.missing.has(k));
  const labels = keep.map((k) => (trainable[k]!.label === 'malignant' ? 1 : 0));
  let x = selectRows(m.x, m.width, keep);
  let width = m.width;
  if (member.domainNorm) {
    const bySource = new Map<string, number[]>();
    keep.forEach((k, r) => bySource.set(trainable[k]!.source, [...(bySource.get(trainable[k]!.source) ?? []), r]));
    for (const rows of bySource.values()) standardiseRows(x, width, rows);
  }
  let allowed = new Set<'age' | 'sex' | 'site'>();
  if (member.metadata) {
    const records = keep.map((k) => ctx.metadata?.get(trainable[k]!.id) ?? {});
    allowed = observedFields(records);
    const seed = member.head.train.seed ^ 0x4d455441;
    x = hstack(x, width, metadataMatrix(metadataDropout(records, member.metadata.allRate, member.metadata.fieldRate, seed), allowed), METADATA_WIDTH);
    width += METADATA_WIDTH;
  }
  const head = await trainMatrixHead(x, width, labels, member.head);
  try {
    const sums = new Map<string, number[]>();
    for (const view of member.tta ?? ['identity']) {
      const t = readBlocks(member.blocks, test.map((i) => i.sha256), view, ctx.reader);
      let tx = t.x;
      let tw = t.width;
      if (member.domainNorm) standardiseRows(tx, tw, test.map((_, k) => k).filter((k) => !t.missing.has(k)));
      if (member.metadata) {
        const records = test.map((i) => (member.metadata!.atTest === 'given' ? (ctx.metadata?.get(i.id) ?? {}) : {}));
        tx = hstack(tx, tw, metadataMatrix(records, allowed), METADATA_WIDTH);
        tw += METADATA_WIDTH;
      }
      const logits = matrixLogits(head, tx, test.length);
      test.forEach((item, k) => {
        if (!t.missing.has(k)) sums.set(item.id, [...(sums.get(item.id) ?? []), logits[k]!]);
      });
    }
    const views = (member.tta ?? ['identity']).length;
    const out = new Map<string, number>();
    for (const [id, v] of sums) if (v.length === views) out.set(id, v.reduce((a, b) => a + b, 0) / views);
    return out;
  } finally {
    head.dispose();
  }
}

/** Standardises the given rows of x in place with their own per-column mean and std. */
export function standardiseRows(x: Float32Array, width: number, rows: readonly number[]): void {
  if (rows.length < 2) return;
  const sub = new Float32Array(rows.length * width);
  rows.forEach((r, i) => sub.set(x.subarray(r * width, (r + 1) * width), i * width));
  const { mean, std } = fitNormalisation(sub, rows.length, width);
  for (const r of rows) for (let c = 0; c < width; c++) x[r * width + c] = (x[r * width + c]! - mean[c]!) / std[c]!;
}

/** Logits of the fold's test items (mean over ensemble members; items any member could not score are absent). */
export async function runLosoConfig(config: LosoConfig, fold: Pick<LosoFold, 'train' | 'test'>, ctx: RunContext = {}): Promise<Map<string, number>> {
  const perMember: Map<string, number>[] = [];
  for (const member of config.members) perMember.push(await runMember(member, fold.train, fold.test, ctx));
  const out = new Map<string, number>();
  for (const id of perMember[0]?.keys() ?? []) {
    const all = perMember.map((p) => p.get(id));
    if (all.every((a) => a !== undefined)) out.set(id, (all as number[]).reduce((a, b) => a + b, 0) / all.length);
  }
  return out;
}
