/**
 * Out-of-distribution scores from the model's own pooled features and logits.
 *
 * Mahalanobis (per branch; Lee et al., NeurIPS 2018, class-conditional Gaussians with a shared
 * covariance, here in a PCA-reduced space for stability):
 *   z = (x - mu) / s                       the pooled vector standardised per channel
 *   p = V^T z                              its coordinates in the top-k principal subspace (V: d x k)
 *   D2 = min_c (p - m_c)^T P (p - m_c)     P = inverse of the shared within-class covariance
 *                                          (Ledoit-Wolf shrinkage towards a scaled identity)
 *   R = ||z - V p||^2 / rMean              what the subspace does not explain, relative to the
 *                                          training mean of the same quantity
 *   branch score = D2 / k + R              each term is ~1 on training images
 * The image's Mahalanobis score is the mean of its branch scores (each divided by its validation
 * percentile when the statistics record one). An image unlike the training
 * data lies far from the class means (D2) or off the subspace the training data span (R): noise,
 * text and wallpapers mostly show up in R, which a k-dimensional Mahalanobis alone cannot see.
 *
 * Energy (Liu et al., NeurIPS 2020) from the head's two logits [z_benign, z_malignant]:
 *   E = -T log(exp(z_b / T) + exp(z_m / T)), T = 1; higher energy = less familiar.
 *
 * Statistics are computed by training code (training/studies/input-gate/ood-stats.ts) from
 * pooled training-set features and stored beside the model's manifest as ood-stats.json (header,
 * thresholds, sha256) + ood-stats.bin (float32 little-endian arrays at the offsets the header
 * names). Everything here is plain arithmetic on typed arrays: no tfjs, no onnxruntime. The pooled
 * vectors and the head's logits come from head.ts (globalPool, FusionHead.classLogits): the gate
 * reads exactly the features the head reads, pooled by the same code.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const OOD_FORMAT = 'dermafuse-ood-stats/1';
export const OOD_JSON = 'ood-stats.json';
export const OOD_BIN = 'ood-stats.bin';

const ArrayRef = z.object({ offset: z.number().int().nonnegative(), length: z.number().int().nonnegative() });

const BranchHeader = z.object({
  /** 'inception' (taps joined along channels) or 'mobilenet'. */
  name: z.string(),
  /** Pooled width d and subspace size k. */
  width: z.number().int().positive(),
  k: z.number().int().positive(),
  /** Per-channel centring and scale (d each). */
  mu: ArrayRef,
  scale: ArrayRef,
  /** Principal directions, d x k row-major. */
  basis: ArrayRef,
  /** Class means in the subspace, classes x k. */
  classMeans: ArrayRef,
  classes: z.array(z.string()).min(1),
  /** Shrunk within-class precision, k x k. */
  precision: ArrayRef,
  /** Training mean of ||z - V V^T z||^2. */
  residualMean: z.number().positive(),
  /**
   * The branch score's threshold percentile over validation images; the image's score averages
   * branch scores divided by it, so that a branch with a long tail on dermoscopy images (a
   * fine-tuned backbone's features) cannot drown the other. Absent: 1 (older statistics).
   */
  validationScale: z.number().positive().optional(),
  shrinkage: z.number().min(0).max(1),
  explainedVariance: z.number().min(0).max(1),
});

const ScoreThreshold = z.object({
  /** Refuse when the score exceeds this. */
  threshold: z.number(),
  /** Percentile of the validation scores the threshold sits at, and what it was measured on. */
  percentile: z.number(),
  validation: z.object({ n: z.number().int(), bySource: z.record(z.string(), z.number().int()) }),
  /**
   * The percentile within each validation source large enough to have one. Present when the
   * threshold is the most permissive of them (and of the pooled one): pooled validation is mostly
   * one source, whose percentile alone refused several times more of the others.
   */
  bySource: z.record(z.string(), z.number()).optional(),
});

export const OodStatsHeader = z.object({
  format: z.literal(OOD_FORMAT),
  modelVersion: z.string(),
  createdAt: z.string(),
  /** Which test-time view the pooled vectors come from (the identity view: no flip). */
  view: z.literal('identity'),
  binFile: z.string(),
  binSha256: z.string().regex(/^[0-9a-f]{64}$/),
  training: z.object({ n: z.number().int(), bySource: z.record(z.string(), z.number().int()), command: z.string() }),
  branches: z.array(BranchHeader).min(1),
  /** The score the gate refuses on ('mahalanobis' or 'energy') and both thresholds. */
  use: z.enum(['mahalanobis', 'energy']),
  mahalanobis: ScoreThreshold,
  energy: ScoreThreshold,
  /** Free-form evidence (AUROC per OOD set, catch rates) written by the measurement. */
  evidence: z.record(z.string(), z.unknown()).optional(),
});
export type OodStatsHeader = z.infer<typeof OodStatsHeader>;

export interface BranchStats {
  readonly name: string;
  readonly width: number;
  readonly k: number;
  readonly mu: Float32Array;
  readonly scale: Float32Array;
  readonly basis: Float32Array;
  readonly classMeans: Float32Array;
  readonly classes: readonly string[];
  readonly precision: Float32Array;
  readonly residualMean: number;
  /** See the header's validationScale; 1 when absent. */
  readonly validationScale?: number;
}

export interface OodStats {
  readonly header: OodStatsHeader;
  readonly branches: readonly BranchStats[];
}

export class OodStatsError extends Error {
  override readonly name = 'OodStatsError';
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function readOrExplain(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OodStatsError(`${what} ${file} cannot be read${code === 'ENOENT' ? ': file not found' : `: ${(e as Error).message}`}`);
  }
}

/**
 * Reads ood-stats.json + .bin from a model folder, checking format, sha256 and every array's size.
 * `expect.sha256` is the header file's own digest as the manifest records it (so an edited
 * threshold is caught, not only an edited .bin); `expect.modelVersion` that the statistics belong
 * to this model. Any mismatch is an OodStatsError saying which file and what differs.
 */
export function loadOodStats(modelDir: string, file: string = OOD_JSON, expect: { sha256?: string; modelVersion?: string } = {}): OodStats {
  const headerFile = join(modelDir, file);
  const raw = readOrExplain(headerFile, 'input-gate statistics');
  if (expect.sha256 !== undefined && sha256(raw) !== expect.sha256) {
    throw new OodStatsError(`input-gate statistics ${headerFile} have been modified: sha256 ${sha256(raw)}, the manifest records ${expect.sha256}`);
  }
  let header: OodStatsHeader;
  try {
    header = OodStatsHeader.parse(JSON.parse(raw.toString('utf8')));
  } catch (e) {
    throw new OodStatsError(`input-gate statistics ${headerFile} are not valid: ${(e as Error).message}`);
  }
  if (expect.modelVersion !== undefined && header.modelVersion !== expect.modelVersion) {
    throw new OodStatsError(`input-gate statistics ${headerFile} were built for model ${header.modelVersion}, not ${expect.modelVersion}`);
  }
  const binFile = join(modelDir, header.binFile);
  const bin = readOrExplain(binFile, 'input-gate statistics');
  const sha = sha256(bin);
  if (sha !== header.binSha256) throw new OodStatsError(`input-gate statistics ${binFile} have been modified: sha256 ${sha} does not match the header's ${header.binSha256}`);
  return decodeOodStats(header, bin);
}

export function decodeOodStats(header: OodStatsHeader, bin: Uint8Array): OodStats {
  const floats = new Float32Array(bin.byteLength / 4);
  new Uint8Array(floats.buffer).set(bin.subarray(0, floats.length * 4));
  const take = (ref: { offset: number; length: number }, expected: number, what: string): Float32Array => {
    if (ref.length !== expected || ref.offset + ref.length > floats.length) throw new OodStatsError(`${what}: ${ref.length} values at ${ref.offset}, expected ${expected}`);
    return floats.slice(ref.offset, ref.offset + ref.length);
  };
  const branches = header.branches.map((b) => ({
    name: b.name,
    width: b.width,
    k: b.k,
    mu: take(b.mu, b.width, `${b.name}.mu`),
    scale: take(b.scale, b.width, `${b.name}.scale`),
    basis: take(b.basis, b.width * b.k, `${b.name}.basis`),
    classMeans: take(b.classMeans, b.classes.length * b.k, `${b.name}.classMeans`),
    classes: b.classes,
    precision: take(b.precision, b.k * b.k, `${b.name}.precision`),
    residualMean: b.residualMean,
    ...(b.validationScale ? { validationScale: b.validationScale } : {}),
  }));
  return { header, branches };
}

/** Packs branch arrays into one float32 buffer and the header's offsets (training side). */
export function encodeOodStats(
  header: Omit<OodStatsHeader, 'branches' | 'binSha256'>,
  branches: readonly (BranchStats & { shrinkage: number; explainedVariance: number })[],
): { header: OodStatsHeader; bin: Buffer } {
  const parts: Float32Array[] = [];
  let offset = 0;
  const put = (a: Float32Array): { offset: number; length: number } => {
    parts.push(a);
    const ref = { offset, length: a.length };
    offset += a.length;
    return ref;
  };
  const headers = branches.map((b) => ({
    name: b.name,
    width: b.width,
    k: b.k,
    mu: put(b.mu),
    scale: put(b.scale),
    basis: put(b.basis),
    classMeans: put(b.classMeans),
    classes: [...b.classes],
    precision: put(b.precision),
    residualMean: b.residualMean,
    ...(b.validationScale ? { validationScale: b.validationScale } : {}),
    shrinkage: b.shrinkage,
    explainedVariance: b.explainedVariance,
  }));
  const all = new Float32Array(offset);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const bin = Buffer.from(all.buffer, all.byteOffset, all.byteLength);
  const binSha256 = createHash('sha256').update(bin).digest('hex');
  return { header: OodStatsHeader.parse({ ...header, branches: headers, binSha256 }), bin };
}

export interface BranchScore {
  /** min over classes of the squared Mahalanobis distance in the subspace. */
  readonly d2: number;
  /** Residual off the subspace, relative to the training mean. */
  readonly residual: number;
  /** d2 / k + residual. */
  readonly score: number;
}

/** One branch's score from its pooled vector (length = width). */
export function branchScore(stats: BranchStats, pooled: ArrayLike<number>): BranchScore {
  const { width: d, k } = stats;
  if (pooled.length !== d) throw new RangeError(`${stats.name}: pooled vector has ${pooled.length} values, stats expect ${d}`);
  const z = new Float64Array(d);
  let zz = 0;
  for (let i = 0; i < d; i++) {
    z[i] = (pooled[i]! - stats.mu[i]!) / stats.scale[i]!;
    zz += z[i]! * z[i]!;
  }
  const p = new Float64Array(k);
  for (let i = 0; i < d; i++) {
    const zi = z[i]!;
    if (zi === 0) continue;
    const row = i * k;
    for (let j = 0; j < k; j++) p[j]! += zi * stats.basis[row + j]!;
  }
  // The basis is orthonormal, so ||z - V p||^2 = ||z||^2 - ||p||^2.
  let pp = 0;
  for (let j = 0; j < k; j++) pp += p[j]! * p[j]!;
  const residual = Math.max(0, zz - pp) / stats.residualMean;
  let d2 = Infinity;
  const diff = new Float64Array(k);
  for (let c = 0; c < stats.classes.length; c++) {
    for (let j = 0; j < k; j++) diff[j] = p[j]! - stats.classMeans[c * k + j]!;
    d2 = Math.min(d2, quadraticForm(stats.precision, diff));
  }
  return { d2, residual, score: d2 / k + residual };
}

/** x^T A x for a k x k row-major A. */
export function quadraticForm(a: ArrayLike<number>, x: ArrayLike<number>): number {
  const k = x.length;
  let s = 0;
  for (let i = 0; i < k; i++) {
    let row = 0;
    for (let j = 0; j < k; j++) row += a[i * k + j]! * x[j]!;
    s += x[i]! * row;
  }
  return s;
}

/** E = -T log sum_i exp(z_i / T), computed stably. */
export function energyScore(logits: ArrayLike<number>, temperature = 1): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]! / temperature);
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i]! / temperature - m);
  return -temperature * (m + Math.log(s));
}

export interface OodScores {
  /** Mean of the branch scores; each branch's parts. */
  readonly mahalanobis: number;
  readonly branches: Readonly<Record<string, BranchScore>>;
  /** Energy of the head's logits, when given. */
  readonly energy?: number;
}

/** Both scores for one image from its pooled vectors (by branch name) and, optionally, the head's two logits. */
export function oodScores(stats: OodStats, pooled: Readonly<Record<string, ArrayLike<number>>>, logits?: ArrayLike<number>): OodScores {
  const branches: Record<string, BranchScore> = {};
  let sum = 0;
  for (const b of stats.branches) {
    const v = pooled[b.name];
    if (!v) throw new RangeError(`no pooled vector for branch ${b.name}`);
    branches[b.name] = branchScore(b, v);
    sum += branches[b.name]!.score / (b.validationScale ?? 1);
  }
  return { mahalanobis: sum / stats.branches.length, branches, ...(logits ? { energy: energyScore(logits) } : {}) };
}

/** Whether the chosen score exceeds its threshold, with the sentence for people. */
export function judgeOod(stats: OodStats, scores: OodScores): { refused: boolean; value: number; threshold: number; message: string; metric: string } {
  const use = stats.header.use;
  const value = use === 'energy' ? scores.energy : scores.mahalanobis;
  if (value === undefined) throw new RangeError('the energy score needs the head logits');
  const t = stats.header[use];
  return {
    refused: value > t.threshold,
    value,
    threshold: t.threshold,
    metric: use,
    message: `image unlike the dermoscopy images the model was trained on: distance ${value.toFixed(2)} (${use}; ${t.percentile}% of ${t.bySource ? 'each source\'s ' : ''}validation images are at most ${t.threshold.toFixed(2)})`,
  };
}
