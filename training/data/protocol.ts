/**
 * The data protocol: which image of ../shared/data trains, validates or tests the head.
 *
 * - Sources: HAM10000, ISIC 2017 (official train/val), the ISIC 9-class set (flagged rows dropped).
 * - Deduplicated by ISIC id across sets: ISIC 2017 keeps its copy (official split), then HAM10000
 *   (lesion ids), then the 9-class set.
 * - HAM10000 is split by lesion_id (stratified by label): a lesion-disjoint test slice, a
 *   validation slice, the rest trains. ISIC 2017 `val` is a test set, untouched until the end;
 *   a slice of ISIC 2017 train and of the 9-class set validates, so hyper-parameters are chosen
 *   on more than one source.
 * - Near-duplicates (perceptual hash) between partitions: the copy in the lower partition is
 *   dropped (test beats validation beats training), so no test image has a copy in training.
 * - Leave-one-source-out: `holdOut` moves every image of one source into a test set of its own
 *   (`loso:<source>`); the other sources keep their usual roles, so LOSO training data is a
 *   subset of the standard training data.
 */
import { join } from 'node:path';
import { cacheDir, sharedDir } from '../../electron/util/paths.ts';
import { readLabelledFolder } from '../../electron/model/datasets.ts';
import { seededRandom } from '../../electron/model/metrics.ts';
import { hashFiles, nearDuplicatePairs } from './near-duplicates.ts';

export const SOURCES = ['ham10000', 'isic2017', 'isic9'] as const;
export type Source = (typeof SOURCES)[number];
export type Role = 'train' | 'val' | 'test';
export type SourceLabel = 'benign' | 'malignant' | 'other_malignant';

export interface ProtocolItem {
  /** `<source>:<path>`, unique. */
  readonly id: string;
  readonly source: Source;
  readonly file: string;
  readonly isicId: string;
  /** Lesion id (HAM10000) or ISIC id: the unit that is split and bootstrapped. */
  readonly group: string;
  readonly label: SourceLabel;
  readonly diagnosis: string;
  readonly role: Role;
  /** e.g. 'train', 'val:ham10000', 'test:ham10000', 'test:isic2017', 'loso:isic9'. */
  readonly evalSet: string;
  /** sha256 of the file's bytes: the feature cache key. */
  readonly sha256: string;
}

export interface RemovedItem {
  readonly id: string;
  readonly reason: 'flagged' | 'duplicate_id' | 'near_duplicate';
  readonly detail: string;
}

export interface ProtocolOptions {
  seed?: number;
  holdOut?: Source;
  /** Fractions of HAM10000 lesions in the test and validation slices. */
  hamTest?: number;
  hamVal?: number;
  /** Fraction of ISIC 2017 train and of the 9-class set used for validation. */
  isicVal?: number;
  dataDir?: string;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface Protocol {
  readonly options: Required<Omit<ProtocolOptions, 'holdOut' | 'onProgress'>> & { holdOut?: Source };
  readonly items: ProtocolItem[];
  readonly removed: RemovedItem[];
}

interface Draft {
  id: string;
  source: Source;
  file: string;
  isicId: string;
  group: string;
  label: SourceLabel;
  diagnosis: string;
  role: Role;
  evalSet: string;
}

const ROLE_RANK: Record<Role, number> = { train: 0, val: 1, test: 2 };

function asLabel(label: string, where: string): SourceLabel {
  if (label === 'benign' || label === 'malignant' || label === 'other_malignant') return label;
  throw new Error(`${where}: unexpected label '${label}'`);
}

/** Stratified by label, seeded: assigns each group to 'test', 'val' or 'train'. */
export function splitGroups(groups: Map<string, string>, fractions: { test: number; val: number }, seed: number): Map<string, Role> {
  const byLabel = new Map<string, string[]>();
  for (const [group, label] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    byLabel.set(label, [...(byLabel.get(label) ?? []), group]);
  }
  const out = new Map<string, Role>();
  for (const [label, members] of [...byLabel.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const random = seededRandom(seed + [...label].reduce((h, c) => h * 31 + c.charCodeAt(0), 7));
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [members[i], members[j]] = [members[j]!, members[i]!];
    }
    const nTest = Math.round(members.length * fractions.test);
    const nVal = Math.round(members.length * fractions.val);
    members.forEach((g, i) => out.set(g, i < nTest ? 'test' : i < nTest + nVal ? 'val' : 'train'));
  }
  return out;
}

export async function buildProtocol(options: ProtocolOptions = {}): Promise<Protocol> {
  const opts = { seed: 20260601, hamTest: 0.15, hamVal: 0.15, isicVal: 0.15, dataDir: sharedDir('data'), ...options };
  const { seed, holdOut, dataDir } = opts;
  const drafts: Draft[] = [];
  const removed: RemovedItem[] = [];

  const isic2017 = readLabelledFolder(join(dataDir, 'isic2017'));
  const ham = readLabelledFolder(join(dataDir, 'ham10000'));
  const isic9 = readLabelledFolder(join(dataDir, 'isic9'));

  // ISIC 2017: official val is a test set; a stratified slice of train validates.
  const i17Groups = new Map(isic2017.filter((r) => r.split === 'train').map((r) => [r.columns.source_id!, r.label]));
  const i17Roles = splitGroups(i17Groups, { test: 0, val: opts.isicVal }, seed + 1);
  for (const r of isic2017) {
    const isicId = r.columns.source_id!;
    const role: Role = r.split === 'val' ? 'test' : i17Roles.get(isicId)!;
    drafts.push({ id: `isic2017:${r.path}`, source: 'isic2017', file: r.file, isicId, group: isicId, label: asLabel(r.label, r.path), diagnosis: r.columns.diagnosis ?? '', role, evalSet: role === 'train' ? 'train' : `${role}:isic2017` });
  }
  const seenIds = new Map(drafts.map((d) => [d.isicId, d.id]));

  // HAM10000: lesion-disjoint split; a lesion's images share its diagnosis.
  const lesionLabel = new Map(ham.map((r) => [r.columns.lesion_id!, r.label]));
  const hamRoles = splitGroups(lesionLabel, { test: opts.hamTest, val: opts.hamVal }, seed + 2);
  for (const r of ham) {
    const isicId = r.columns.source_id!;
    const id = `ham10000:${r.path}`;
    const other = seenIds.get(isicId);
    if (other) {
      removed.push({ id, reason: 'duplicate_id', detail: `${isicId} also in ${other}` });
      continue;
    }
    const lesion = r.columns.lesion_id!;
    const role = hamRoles.get(lesion)!;
    drafts.push({ id, source: 'ham10000', file: r.file, isicId, group: lesion, label: asLabel(r.label, r.path), diagnosis: r.columns.diagnosis ?? '', role, evalSet: role === 'train' ? 'train' : `${role}:ham10000` });
    seenIds.set(isicId, id);
  }

  // ISIC 9-class: drop flagged rows and ids already present; a stratified slice validates.
  const kept9 = isic9.filter((r) => {
    const id = `isic9:${r.path}`;
    if (r.columns.duplicate_of || r.columns.label_conflict === '1') {
      removed.push({ id, reason: 'flagged', detail: r.columns.duplicate_of ? `duplicate_of ${r.columns.duplicate_of}` : 'label_conflict' });
      return false;
    }
    const other = seenIds.get(r.columns.isic_id!);
    if (other) {
      removed.push({ id, reason: 'duplicate_id', detail: `${r.columns.isic_id} also in ${other}` });
      return false;
    }
    seenIds.set(r.columns.isic_id!, id);
    return true;
  });
  const i9Roles = splitGroups(new Map(kept9.map((r) => [r.columns.isic_id!, r.label])), { test: 0, val: opts.isicVal }, seed + 3);
  for (const r of kept9) {
    const isicId = r.columns.isic_id!;
    const role = i9Roles.get(isicId)!;
    drafts.push({ id: `isic9:${r.path}`, source: 'isic9', file: r.file, isicId, group: isicId, label: asLabel(r.label, r.path), diagnosis: r.columns.diagnosis ?? '', role, evalSet: role === 'train' ? 'train' : `${role}:isic9` });
  }

  if (holdOut) {
    for (const d of drafts) {
      if (d.source === holdOut) {
        d.role = 'test';
        d.evalSet = `loso:${holdOut}`;
      }
    }
  }

  // Near-duplicates across partitions: keep the copy in the higher partition.
  const { sha256, hashes } = await hashFiles(
    drafts.map((d) => d.file),
    cacheDir('protocol', 'perceptual-hashes-v1.json'),
    (done) => opts.onProgress?.('hash', done, drafts.length),
  );
  const dropped = new Set<number>();
  for (const [i, j] of nearDuplicatePairs(hashes)) {
    const a = drafts[i]!;
    const b = drafts[j]!;
    if (a.evalSet === b.evalSet) continue;
    // Different test sets may share an image: each is scored on its own, neither trains.
    if (a.role === 'test' && b.role === 'test') continue;
    const [keep, drop] = ROLE_RANK[a.role] >= ROLE_RANK[b.role] ? [i, j] : [j, i];
    if (dropped.has(keep)) continue;
    if (!dropped.has(drop)) {
      dropped.add(drop);
      removed.push({ id: drafts[drop]!.id, reason: 'near_duplicate', detail: `near-duplicate of ${drafts[keep]!.id} (${drafts[keep]!.evalSet})` });
    }
  }
  const items: ProtocolItem[] = drafts.flatMap((d, i) => (dropped.has(i) ? [] : [{ ...d, sha256: sha256[i]! }]));
  const { onProgress: _onProgress, ...kept } = opts;
  return { options: kept, items, removed };
}

/** Counts per evaluation set and label, for the manifest and the model card. */
export function summarise(protocol: Protocol): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const item of protocol.items) {
    const key = item.role === 'train' ? `train:${item.source}` : item.evalSet;
    out[key] ??= {};
    out[key]![item.label] = (out[key]![item.label] ?? 0) + 1;
  }
  const reasons: Record<string, number> = {};
  for (const r of protocol.removed) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
  out.removed = reasons;
  return out;
}
