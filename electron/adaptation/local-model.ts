/**
 * A local model version's folder: the base model's manifest with the adapted head, calibration,
 * operating points and tiers, the cross-validated figures as its metrics and an `adaptation`
 * record (manifest.ts ManifestAdaptation); beside it the files the classifier loads from a model
 * folder (head, backbone graphs, input-gate statistics, Grad-CAM baseline). It loads like any
 * model folder: `DERMAFUSE_MODEL_DIR=<folder> dermafuse classify`.
 *
 * The folder is built under a temporary name and renamed into place, so a crash leaves either
 * nothing or a complete folder. Every file's sha256 is recorded in the manifest, and the
 * manifest's own sha256 by whoever keeps the folder (registry.ts): verifyModelFolder() finds a
 * folder edited after it was written.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { HEAD_JSON, headArrays, readHeadFile, writeHeadFiles, type HeadArrays, type HeadConfig } from '../model/head.ts';
import { OOD_JSON, OodStatsHeader } from '../model/input-gate/ood.ts';
import { CAM_BASELINE_BIN, CAM_BASELINE_JSON } from '../model/cam-baseline.ts';
import { ManifestAdaptation, ModelManifest, loadManifest, manifestPath, type NamedOperatingPoint } from '../model/manifest.ts';
import type { OperatingPoint } from '#common/domain';
import { sha256Hex } from '../util/hash.ts';
import { removeAbandonedTemps, tempFolderFor } from './files.ts';

export class LocalModelError extends Error {
  override readonly name = 'LocalModelError';
}

export const MANIFEST_FILE = 'manifest.json';

/** Everything a local model folder is written from (run.ts builds it from an adaptation). */
export interface LocalModelSpec {
  readonly base: { readonly dir: string; readonly manifest: ModelManifest; readonly manifestSha256: string };
  /** The adapted head; absent when the method leaves the head as shipped (recalibration). */
  readonly head?: { readonly config: HeadConfig; readonly arrays: HeadArrays };
  readonly temperature: number;
  readonly calibrationBias: number;
  readonly threshold: number;
  readonly operatingPoints?: Readonly<Record<OperatingPoint, NamedOperatingPoint>>;
  readonly tiers: ModelManifest['tiers'];
  /** Cross-validated figures, keyed like a manifest's metrics. */
  readonly metrics: ModelManifest['metrics'];
  readonly adaptation: Omit<ManifestAdaptation, 'base' | 'files'>;
}

/** The sha256 of a folder's manifest.json as it is on disk (what a registry pins). */
export function manifestSha256(dir: string): string {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) throw new LocalModelError(`local model folder ${dir} has no ${MANIFEST_FILE}`);
  return sha256Hex(readFileSync(file));
}

/** `<base>+local-<n>`: the version name of the n-th local model adapted from a base version. */
export function localVersionName(baseVersion: string, n: number): string {
  return `${baseVersion.replace(/\+local-\d+$/, '')}+local-${n}`;
}

/** Every file under dir (recursively), as paths relative to it with '/' separators. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * The input gate's statistics belong to one model version (the classifier checks it). Its
 * Mahalanobis statistics describe the backbones' pooled features, which adaptation does not
 * change, so the local version carries them under its own name; the .bin is copied unchanged.
 */
function copyOodStats(baseDir: string, manifest: ModelManifest, folder: string, version: string): ModelManifest['inputGate'] {
  const gate = manifest.inputGate;
  if (!gate) return undefined;
  const raw = readFileSync(manifestPath(baseDir, gate.oodStats));
  if (gate.oodStatsSha256 && sha256Hex(raw) !== gate.oodStatsSha256) {
    throw new LocalModelError(`the base model's input-gate statistics ${gate.oodStats} do not match its manifest: the base model folder was modified`);
  }
  const header = OodStatsHeader.parse(JSON.parse(raw.toString('utf8')));
  const binSource = join(dirname(manifestPath(baseDir, gate.oodStats)), header.binFile);
  copyFileSync(binSource, join(folder, basename(header.binFile)));
  const json = JSON.stringify({ ...header, modelVersion: version, binFile: basename(header.binFile) }, null, 2) + '\n';
  writeFileSync(join(folder, OOD_JSON), json);
  return { oodStats: OOD_JSON, oodStatsSha256: sha256Hex(json) };
}

/** Writes the head: the adapted weights, or the base head's (re-encoded after a shape check). */
async function writeHead(spec: LocalModelSpec, folder: string): Promise<void> {
  if (spec.head) return writeHeadFiles(folder, spec.head.config, spec.head.arrays);
  const p = manifestPath(spec.base.dir, spec.base.manifest.head.file);
  const { config, weights } = await readHeadFile(p.endsWith('.json') ? dirname(p) : p);
  await writeHeadFiles(folder, config, headArrays(config, weights));
}

/** Copies the base model's own backbone graphs (fine-tuned models ship them) and names them relative to the new folder. */
function copyGraphs(baseDir: string, manifest: ModelManifest, folder: string): ModelManifest['backbones'] {
  const copy = <T extends { graph?: { file: string } }>(b: T, name: string): T => {
    if (!b.graph) return b;
    const target = `${name}-${basename(b.graph.file)}`;
    copyFileSync(manifestPath(baseDir, b.graph.file), join(folder, target));
    return { ...b, graph: { ...b.graph, file: target } };
  };
  return { inception_v3: copy(manifest.backbones.inception_v3, 'inception_v3'), mobilenet_v2: copy(manifest.backbones.mobilenet_v2, 'mobilenet_v2') };
}

function buildFolder(spec: LocalModelSpec, version: string, folder: string, inputGate: ModelManifest['inputGate'], backbones: ModelManifest['backbones']): ModelManifest {
  const base = spec.base.manifest;
  const files = Object.fromEntries(filesUnder(folder).map((f) => [f, sha256Hex(readFileSync(join(folder, f)))]));
  const { fixturePredictions: _stale, inputGate: _gate, operatingPoints: _points, ...kept } = base;
  const manifest: ModelManifest = {
    ...kept,
    version,
    createdAt: spec.adaptation.createdAt,
    backbones,
    head: { ...base.head, file: HEAD_JSON },
    temperature: spec.temperature,
    calibrationBias: spec.calibrationBias,
    threshold: spec.threshold,
    ...(spec.operatingPoints ? { operatingPoints: { ...spec.operatingPoints } } : {}),
    tiers: { ...spec.tiers },
    metrics: spec.metrics,
    training: { ...base.training, adaptedFrom: base.version },
    ...(inputGate ? { inputGate } : {}),
    adaptation: { ...spec.adaptation, base: { version: base.version, manifestSha256: spec.base.manifestSha256 }, files },
  };
  // Validate before writing: a manifest the classifier would refuse must never be produced.
  return ModelManifest.parse(manifest);
}

/**
 * Writes the model folder `target` (which must not exist yet) for `version`, whole or not at all,
 * and returns its manifest and the manifest's sha256.
 */
export async function writeModelFolder(spec: LocalModelSpec, target: string, version: string): Promise<{ folder: string; manifest: ModelManifest; manifestSha256: string }> {
  if (existsSync(target)) throw new LocalModelError(`${target} already exists: choose a new folder for the local model`);
  mkdirSync(dirname(target), { recursive: true });
  removeAbandonedTemps(dirname(target));
  const tmp = tempFolderFor(target);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await writeHead(spec, tmp);
    const inputGate = copyOodStats(spec.base.dir, spec.base.manifest, tmp, version);
    const backbones = copyGraphs(spec.base.dir, spec.base.manifest, tmp);
    for (const name of [CAM_BASELINE_JSON, CAM_BASELINE_BIN]) {
      if (existsSync(join(spec.base.dir, name))) copyFileSync(join(spec.base.dir, name), join(tmp, name));
    }
    const manifest = buildFolder(spec, version, tmp, inputGate, backbones);
    const text = JSON.stringify(manifest, null, 2) + '\n';
    writeFileSync(join(tmp, MANIFEST_FILE), text);
    renameSync(tmp, target);
    return { folder: target, manifest, manifestSha256: sha256Hex(text) };
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Checks a local model folder before it is used: the manifest's sha256 (when the keeper pinned
 * one), then each file the manifest lists. Returns the manifest; throws LocalModelError naming
 * what changed.
 */
export function verifyModelFolder(dir: string, expectedManifestSha256?: string): ModelManifest {
  const digest = manifestSha256(dir);
  let manifest: ModelManifest;
  try {
    manifest = loadManifest(dir);
  } catch (error) {
    throw new LocalModelError(`local model folder ${dir}: ${(error as Error).message}`);
  }
  const version = manifest.version;
  if (expectedManifestSha256 !== undefined && digest !== expectedManifestSha256) {
    throw new LocalModelError(`local model ${version} was modified after it was created: sha256 of ${join(dir, MANIFEST_FILE)} is ${digest}, expected ${expectedManifestSha256}`);
  }
  if (!manifest.adaptation) throw new LocalModelError(`${dir} is not a local model folder (its manifest has no adaptation record)`);
  for (const [file, sha] of Object.entries(manifest.adaptation.files)) {
    const full = join(dir, file);
    if (!existsSync(full)) throw new LocalModelError(`local model ${version} is incomplete: ${file} is missing`);
    const actual = sha256Hex(readFileSync(full));
    if (actual !== sha) throw new LocalModelError(`local model ${version} was modified after it was created: sha256 of ${file} is ${actual}, expected ${sha}`);
  }
  return manifest;
}
