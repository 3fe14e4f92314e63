/**
 * The OOD measurement: pooled features (identity view) of a protocol sample and of the OOD sets,
 * through the shipped model's backbones on one thread; statistics fitted on the training sample,
 * the threshold at a percentile of the validation sample, catch rates and AUROC on the OOD sets.
 *
 * Per-image results (pooled vectors, the head's two logits, quality scores) are cached in
 * ~/.cache/dermafuse/input-gate/pooled-<model>-v<N>.jsonl, so a run stopped by its time budget
 * resumes where it left off.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Backbones } from '../../../electron/model/backbones.ts';
import { readLabelledFolder } from '../../../electron/model/datasets.ts';
import { concatChannels } from '../../../electron/model/feature-maps.ts';
import { averagePool, FusionHead } from '../../../electron/model/head.ts';
import { decodeForGate } from '../../../electron/model/input-gate/decode.ts';
import { measureQuality, type QualityScores } from '../../../electron/model/input-gate/quality.ts';
import { loadManifest, manifestPath, type ModelManifest } from '../../../electron/model/manifest.ts';
import { seededRandom } from '../../../electron/model/metrics.ts';
import { prepareBuffer, readImageFile } from '../../../electron/model/preprocess.ts';
import { cacheDir } from '../../../electron/util/paths.ts';
import { buildProtocol, type ProtocolItem } from '../../data/protocol.ts';
import { FAULTS, withFault, type OodItem } from './ood-sets.ts';

export const POOLED_CACHE_VERSION = 1;
const FAULT_POOL = 150;

export interface StudyItem extends OodItem {
  /** 'train' (statistics), 'val' (threshold), 'id-test' (in-distribution, reported), 'ood'. */
  readonly role: 'train' | 'val' | 'id-test' | 'ood';
  /** 0 benign, 1 malignant, -1 other / unknown. */
  readonly label: number;
  readonly source?: string;
}

export interface PooledRecord {
  readonly id: string;
  readonly inception: Float32Array;
  readonly mobilenet: Float32Array;
  /** The head's [z_benign, z_malignant] on the identity view. */
  readonly logits: [number, number];
  readonly quality: QualityScores;
}

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const r = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const labelOf = (l: string): number => (l === 'benign' ? 0 : l === 'malignant' ? 1 : -1);

/**
 * The in-distribution sample: per protocol source, `trainPer` training images (benign and
 * melanoma, the classes the head was trained on) and `valPer` validation images (every label:
 * BCC / AK are dermoscopy images too and must not be refused); `testPer` from each test set and
 * from derm7pt (a clinic never seen in training); and `faultsPer` validation images per fault.
 */
export async function sampleItems(dataDir: string, o: { trainPer: number; valPer: number; testPer: number; faultsPer: number; seed: number }): Promise<{ items: StudyItem[]; faultBase: ProtocolItem[] }> {
  const protocol = await buildProtocol({ dataDir });
  const items: StudyItem[] = [];
  const fileItem = (p: ProtocolItem, role: StudyItem['role'], set: string): StudyItem => ({ set, id: p.id, file: p.file, role, label: labelOf(p.label), source: p.source });
  // Faults are made from the first FAULT_POOL shuffled validation images of each source, so that
  // enlarging the validation sample does not change the fault images.
  const val: ProtocolItem[] = [];
  for (const source of ['ham10000', 'isic2017', 'isic9'] as const) {
    const train = shuffle(protocol.items.filter((p) => p.source === source && p.role === 'train' && p.label !== 'other_malignant'), o.seed);
    items.push(...train.slice(0, o.trainPer).map((p) => fileItem(p, 'train', `train:${source}`)));
    const shuffled = shuffle(protocol.items.filter((p) => p.evalSet === `val:${source}`), o.seed + 1);
    val.push(...shuffled.slice(0, Math.min(o.valPer, FAULT_POOL)));
    items.push(...shuffled.slice(0, o.valPer).map((p) => fileItem(p, 'val', `val:${source}`)));
  }
  for (const set of ['test:ham10000', 'test:isic2017']) {
    items.push(...shuffle(protocol.items.filter((p) => p.evalSet === set), o.seed + 2).slice(0, o.testPer).map((p) => fileItem(p, 'id-test', set)));
  }
  const d7 = shuffle(readLabelledFolder(join(dataDir, 'derm7pt')), o.seed + 3).slice(0, o.testPer);
  items.push(...d7.map((r) => ({ set: 'derm7pt', id: `derm7pt:${r.path}`, file: r.file, role: 'id-test' as const, label: labelOf(r.label), source: 'derm7pt' })));
  // Faults: the same validation images for every fault, spread over the sources.
  const faultBase = shuffle(val, o.seed + 4).slice(0, o.faultsPer);
  for (const fault of FAULTS) {
    for (const p of faultBase) {
      items.push({ set: `fault:${fault}`, id: `fault:${fault}:${p.id}`, role: 'ood', label: -1, source: p.source, bytes: async () => withFault(await readImageFile(p.file), fault) });
    }
  }
  return { items, faultBase };
}

function cacheFile(model: string): string {
  return cacheDir('input-gate', `pooled-${model}-v${POOLED_CACHE_VERSION}.jsonl`);
}

const f32 = (b64: string): Float32Array => {
  const buf = Buffer.from(b64, 'base64');
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
};
const b64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

export function readPooled(model: string): Map<string, PooledRecord> {
  const out = new Map<string, PooledRecord>();
  const file = cacheFile(model);
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const l = JSON.parse(line) as { id: string; inception: string; mobilenet: string; logits: [number, number]; quality: QualityScores };
      out.set(l.id, { id: l.id, inception: f32(l.inception), mobilenet: f32(l.mobilenet), logits: l.logits, quality: l.quality });
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

/** The model pieces the extraction needs. */
export interface ModelParts {
  readonly manifest: ModelManifest;
  readonly head: FusionHead;
  readonly backbones: Backbones;
}

export async function loadModelParts(modelDir: string, threads = 1): Promise<ModelParts> {
  const manifest = loadManifest(modelDir);
  const headFile = manifestPath(modelDir, manifest.head.file);
  const head = await FusionHead.load(headFile.endsWith('.json') ? dirname(headFile) : headFile);
  const backbones = await Backbones.load({
    inceptionLayers: manifest.backbones.inception_v3.layers,
    inceptionScaling: manifest.backbones.inception_v3.scaling,
    executionProvider: 'cpu',
    intraOpThreads: threads,
  });
  return { manifest, head, backbones };
}

/** Pooled vectors, logits and quality scores of one image, exactly as the classifier would see it (identity view). */
export async function extractOne(parts: ModelParts, bytes: Buffer, name: string): Promise<Omit<PooledRecord, 'id'>> {
  const quality = measureQuality(await decodeForGate(bytes, { name }));
  const prepared = await prepareBuffer(bytes, name, { colorConstancy: parts.manifest.preprocess.colorConstancy });
  const out = await parts.backbones.run(prepared.inception, prepared.mobilenet, 1);
  const inc = concatChannels(parts.manifest.backbones.inception_v3.layers.map((l) => out.inception[l]!));
  const inception = Float32Array.from(averagePool(inc));
  const mobilenet = Float32Array.from(averagePool(out.mobilenet));
  const joined = new Float64Array(inception.length + mobilenet.length);
  joined.set(inception);
  joined.set(mobilenet, inception.length);
  return { inception, mobilenet, logits: parts.head.classLogitsFromPooled(joined), quality };
}

/** Extracts every item not yet cached, until the deadline; returns how many were computed. */
export async function extractMissing(parts: ModelParts, model: string, items: readonly StudyItem[], deadline: number, log: (s: string) => void): Promise<{ computed: number; failed: string[]; remaining: number }> {
  const file = cacheFile(model);
  mkdirSync(dirname(file), { recursive: true });
  const have = readPooled(model);
  const todo = items.filter((i) => !have.has(i.id));
  let computed = 0;
  const failed: string[] = [];
  const t0 = Date.now();
  for (const item of todo) {
    if (Date.now() > deadline) break;
    try {
      const bytes = item.file ? await readImageFile(item.file) : await item.bytes!();
      const r = await extractOne(parts, bytes, item.id);
      appendFileSync(file, JSON.stringify({ id: item.id, inception: b64(r.inception), mobilenet: b64(r.mobilenet), logits: r.logits, quality: r.quality }) + '\n');
      computed++;
      if (computed % 25 === 0) log(`extracted ${computed}/${todo.length} (${((Date.now() - t0) / computed).toFixed(0)} ms/image)`);
    } catch (e) {
      failed.push(`${item.id}: ${(e as Error).message}`);
    }
  }
  return { computed, failed, remaining: todo.length - computed - failed.length };
}
