/**
 * Pinned backbone weight sources. Every file is identified by sha256 and size; a file is looked
 * up in $DERMAFUSE_MODEL_MIRROR, then ../shared/models, then the download cache, and only then
 * downloaded from its pinned public URL. Whatever goes wrong ends in one WeightsError whose
 * message says what was tried and what to do.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { cacheDir, sharedDir } from '../util/paths.ts';
import { sha256Hex } from '../util/hash.ts';

export interface PinnedFile {
  readonly fileName: string;
  readonly sha256: string;
  readonly size: number;
  /** Public download location; absent for files that arrive with an npm package. */
  readonly url?: string;
  readonly what: string;
}

const CORAL_TEST_DATA = 'https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41';

export const MOBILENET_V2_TFLITE: PinnedFile = {
  fileName: 'coral_tf2_mobilenet_v2_1.0_224_ptq.tflite',
  sha256: '5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c',
  size: 4_070_174,
  url: `${CORAL_TEST_DATA}/tf2_mobilenet_v2_1.0_224_ptq.tflite`,
  what: 'MobileNetV2 ImageNet weights (Google Coral, Apache-2.0)',
};

export const IMAGENET_LABELS: PinnedFile = {
  fileName: 'coral_imagenet_labels.txt',
  sha256: 'b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1',
  size: 21_686,
  url: `${CORAL_TEST_DATA}/imagenet_labels.txt`,
  what: 'ImageNet class names for MobileNetV2 (Google Coral, Apache-2.0)',
};

/** nsfwjs@4.4.0 (MIT) ships a Keras InceptionV3 as UMD modules; these are the bytes we verified. */
export const NSFWJS_INCEPTION_V3 = {
  packageName: 'nsfwjs',
  version: '4.4.0',
  subdir: 'dist/models/inception_v3',
  what: 'InceptionV3 weights from nsfwjs@4.4.0 (MIT)',
  files: [
    { fileName: 'model.min.js', sha256: '8c2b793b9d277840fc757725bf3b135c96d5a54ec020e2b4ab569fc3df6b3848', size: 177_909 },
    { fileName: 'group1-shard1of6.min.js', sha256: 'e9316ac20ff634f990e483062050afe9a4826885c3a212d676ce2cfda93a4884', size: 5_593_186 },
    { fileName: 'group1-shard2of6.min.js', sha256: '467b33d62b4c470edf8acd3da554e331f2d49f3f93ddd718f944f595c516cd82', size: 5_593_186 },
    { fileName: 'group1-shard3of6.min.js', sha256: '075300e057ca7e9fd2e282afbc3a6596a0404288c94bf781e9b20658cbeee664', size: 5_593_186 },
    { fileName: 'group1-shard4of6.min.js', sha256: 'b51ee46e062e752e81c28761a56369432671bfb3d59f4f062f5bd4dd58ff5303', size: 5_593_186 },
    { fileName: 'group1-shard5of6.min.js', sha256: 'd4149969b3c61e0d4dde1d4f555f5b00f4fc87f6bab1a4cd4967b24f62725de6', size: 5_593_186 },
    { fileName: 'group1-shard6of6.min.js', sha256: 'b684762a7d7c39b80183d260bdab6f072321349300f9f2ff144a085a382acfc4', size: 1_853_246 },
  ],
} as const;

/**
 * One identifier for the whole InceptionV3 source (all seven files), used to key converted
 * graphs without re-reading 30 MB on every start.
 */
export const INCEPTION_SOURCE_SHA256 = createHash('sha256')
  .update(NSFWJS_INCEPTION_V3.files.map((f) => f.sha256).join('\n'))
  .digest('hex');

export type WeightsErrorCode = 'missing' | 'corrupt' | 'download_failed' | 'invalid';

/** The one error a user sees about weights: its message is complete and says what to do. */
export class WeightsError extends Error {
  override readonly name = 'WeightsError';
  constructor(
    readonly code: WeightsErrorCode,
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

interface Candidate {
  readonly dir: string;
  readonly label: string;
}

/** Where pinned files are looked for, in order. */
export function weightSearchDirs(): Candidate[] {
  const dirs: Candidate[] = [];
  const mirror = process.env.DERMAFUSE_MODEL_MIRROR;
  if (mirror) dirs.push({ dir: mirror, label: '$DERMAFUSE_MODEL_MIRROR' });
  dirs.push({ dir: sharedDir('models'), label: 'shared models folder' });
  dirs.push({ dir: cacheDir('weights'), label: 'download cache' });
  return dirs;
}

/** Reads `path` and checks size and sha256; returns the bytes or why they are unusable. */
async function readVerified(path: string, pin: { sha256: string; size: number }): Promise<{ bytes: Buffer } | { problem: string }> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return { problem: 'not present' };
  }
  if (size !== pin.size) return { problem: `wrong size (${size} bytes, expected ${pin.size})` };
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    return { problem: `unreadable (${(e as Error).message})` };
  }
  const digest = sha256Hex(bytes);
  if (digest !== pin.sha256) return { problem: `corrupt (sha256 ${digest.slice(0, 12)}…, expected ${pin.sha256.slice(0, 12)}…)` };
  return { bytes };
}

export interface ResolveOptions {
  /** Allow fetching from the pinned URL when no local copy verifies (default true). */
  readonly download?: boolean;
  /** Injected for tests. */
  readonly fetchImpl?: typeof fetch;
}

/** Returns the verified bytes of a pinned file, downloading it into the cache as a last resort. */
export async function loadPinnedFile(pin: PinnedFile, options: ResolveOptions = {}): Promise<Buffer> {
  const tried: string[] = [];
  let sawCorrupt = false;
  for (const { dir, label } of weightSearchDirs()) {
    const path = join(dir, pin.fileName);
    const r = await readVerified(path, pin);
    if ('bytes' in r) return r.bytes;
    if (r.problem !== 'not present') sawCorrupt = true;
    tried.push(`  ${label}: ${path} — ${r.problem}`);
  }
  if ((options.download ?? true) && pin.url) {
    try {
      return await downloadPinned(pin, cacheDir('weights'), options.fetchImpl ?? fetch);
    } catch (e) {
      tried.push(`  download: ${pin.url} — ${(e as Error).message}`);
      throw new WeightsError('download_failed', pin.fileName, explain(pin, tried));
    }
  }
  throw new WeightsError(sawCorrupt ? 'corrupt' : 'missing', pin.fileName, explain(pin, tried));
}

function explain(pin: PinnedFile, tried: string[]): string {
  return [
    `${pin.what}: no valid copy of ${pin.fileName} found.`,
    ...tried,
    `To fix: put the file (${pin.size} bytes, sha256 ${pin.sha256})`,
    `${pin.url ? `from ${pin.url} ` : ''}into a folder and set DERMAFUSE_MODEL_MIRROR to that folder,`,
    `or into ${cacheDir('weights')}, or run once with internet access.`,
  ].join('\n');
}

/** Fetches a pinned file, verifies it, and moves it into `dir` atomically. */
export async function downloadPinned(pin: PinnedFile, dir: string, fetchImpl: typeof fetch): Promise<Buffer> {
  if (!pin.url) throw new Error('no public URL pinned');
  let response: Response;
  try {
    response = await fetchImpl(pin.url, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`network error (${cause?.code ?? cause?.message ?? (e as Error).message})`);
  }
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  if (bytes.length !== pin.size) throw new Error(`downloaded ${bytes.length} bytes, expected ${pin.size}`);
  const digest = sha256Hex(bytes);
  if (digest !== pin.sha256) throw new Error(`downloaded file has sha256 ${digest}, expected ${pin.sha256}`);
  await mkdir(dir, { recursive: true });
  const final = join(dir, pin.fileName);
  const partial = `${final}.${process.pid}.part`;
  try {
    await writeFile(partial, bytes);
    await rename(partial, final);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  return bytes;
}

/** A Keras layers-model source as nsfwjs publishes it: topology JSON, weight specs, and the decoded weight bytes. */
export interface LayersModelSource {
  readonly modelTopology: KerasModelTopology;
  readonly weightSpecs: readonly WeightSpec[];
  readonly weightData: ArrayBuffer;
  /** Identifies the source bytes (see INCEPTION_SOURCE_SHA256). */
  readonly sha256: string;
}

export interface KerasModelTopology {
  readonly keras_version?: string;
  readonly backend?: string;
  /** Keras' own model.json wraps the model in model_config; the converted layers-model JSON nsfwjs ships does not. */
  readonly model_config?: { readonly class_name: string; readonly config: KerasModelConfig };
  readonly class_name?: string;
  readonly config?: KerasModelConfig;
}

export interface KerasModelConfig {
  readonly name: string;
  readonly layers: readonly KerasLayer[];
  readonly input_layers: readonly (readonly [string, number, number])[];
  readonly output_layers: readonly (readonly [string, number, number])[];
}

export interface KerasLayer {
  readonly name: string;
  readonly class_name: string;
  readonly config: Record<string, unknown>;
  /** [[[layerName, nodeIndex, tensorIndex, kwargs], ...]] */
  readonly inbound_nodes: readonly (readonly (readonly [string, number, number, unknown?])[])[];
}

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  readonly quantization?: { readonly dtype: 'uint8' | 'uint16' | 'float16'; readonly min?: number; readonly scale?: number };
}

function nsfwjsDirs(): Candidate[] {
  const dirs: Candidate[] = [];
  const mirror = process.env.DERMAFUSE_MODEL_MIRROR;
  if (mirror) dirs.push({ dir: join(mirror, 'nsfwjs-inception_v3'), label: '$DERMAFUSE_MODEL_MIRROR/nsfwjs-inception_v3' });
  try {
    // The package's CommonJS entry is dist/cjs/index.js; the models sit beside it under dist/models.
    const entry = createRequire(import.meta.url).resolve(NSFWJS_INCEPTION_V3.packageName);
    dirs.push({ dir: join(dirname(entry), '..', '..', NSFWJS_INCEPTION_V3.subdir), label: `npm package ${NSFWJS_INCEPTION_V3.packageName}` });
  } catch {
    dirs.push({ dir: `node_modules/${NSFWJS_INCEPTION_V3.packageName}/${NSFWJS_INCEPTION_V3.subdir}`, label: 'npm package (not installed)' });
  }
  return dirs;
}

/** Evaluates one nsfwjs UMD module (already sha256-verified) and returns what it exports. */
function umdExport(source: string, file: string): unknown {
  const sandbox: { module: { exports: unknown }; exports?: unknown } = { module: { exports: {} } };
  sandbox.exports = sandbox.module.exports;
  try {
    vm.runInNewContext(source, sandbox, { filename: file, timeout: 30_000 });
  } catch (e) {
    throw new WeightsError('invalid', file, `${file}: could not evaluate the weights module (${(e as Error).message})`);
  }
  // Objects made in the sandbox belong to another realm (their Array is not ours, which breaks
  // iteration in some libraries); a JSON round trip gives plain objects of this realm.
  const exported = sandbox.module.exports;
  return typeof exported === 'string' ? exported : (JSON.parse(JSON.stringify(exported)) as unknown);
}

/** Loads and verifies the nsfwjs InceptionV3 model: topology, weight specs, dequantisable bytes. */
export async function loadInceptionSource(): Promise<LayersModelSource> {
  const tried: string[] = [];
  for (const { dir, label } of nsfwjsDirs()) {
    const texts: string[] = [];
    let problem: string | null = null;
    for (const f of NSFWJS_INCEPTION_V3.files) {
      const r = await readVerified(join(dir, f.fileName), f);
      if ('problem' in r) {
        problem = `${f.fileName} ${r.problem}`;
        break;
      }
      texts.push(r.bytes.toString('utf8'));
    }
    if (problem) {
      tried.push(`  ${label}: ${dir} — ${problem}`);
      continue;
    }
    const [modelText, ...shardTexts] = texts as [string, ...string[]];
    const model = umdExport(modelText, join(dir, 'model.min.js')) as { modelTopology?: KerasModelTopology; weightsManifest?: { paths: string[]; weights: WeightSpec[] }[] };
    if (!model?.modelTopology || !model.weightsManifest) throw new WeightsError('invalid', 'model.min.js', `${dir}/model.min.js does not export a Keras layers model (modelTopology + weightsManifest)`);
    const shards = shardTexts.map((t, i) => {
      const b64 = umdExport(t, join(dir, NSFWJS_INCEPTION_V3.files[i + 1]!.fileName));
      if (typeof b64 !== 'string') throw new WeightsError('invalid', NSFWJS_INCEPTION_V3.files[i + 1]!.fileName, 'weight shard does not export a base64 string');
      return Buffer.from(b64, 'base64');
    });
    const all = Buffer.concat(shards);
    return {
      modelTopology: model.modelTopology,
      weightSpecs: model.weightsManifest.flatMap((g) => g.weights),
      weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      sha256: INCEPTION_SOURCE_SHA256,
    };
  }
  throw new WeightsError(
    tried.some((t) => !t.endsWith('not present')) ? 'corrupt' : 'missing',
    'inception_v3',
    [
      `${NSFWJS_INCEPTION_V3.what}: no valid copy found.`,
      ...tried,
      `To fix: run \`npm install\` (the app depends on nsfwjs@${NSFWJS_INCEPTION_V3.version}), or copy its ${NSFWJS_INCEPTION_V3.subdir}/ files`,
      'into $DERMAFUSE_MODEL_MIRROR/nsfwjs-inception_v3/.',
    ].join('\n'),
  );
}

/**
 * Turns a weights manifest (specs in file order, little-endian, concatenated) + bytes into named
 * float32 arrays; quantised weights dequantise as q * scale + min. Reads the InceptionV3 source and
 * the fusion head's weight file (head.ts).
 */
export function decodeWeights(specs: readonly WeightSpec[], data: ArrayBuffer): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    const bytesPer = q ? (q.dtype === 'uint8' ? 1 : 2) : 4;
    if (offset + count * bytesPer > data.byteLength) throw new WeightsError('invalid', spec.name, `weights end before ${spec.name}: the weight files are incomplete`);
    const values = new Float32Array(count);
    const view = new DataView(data, offset, count * bytesPer);
    if (!q) {
      for (let i = 0; i < count; i++) values[i] = spec.dtype === 'int32' ? view.getInt32(4 * i, true) : view.getFloat32(4 * i, true);
    } else if (q.dtype === 'float16') {
      for (let i = 0; i < count; i++) values[i] = halfToFloat(view.getUint16(2 * i, true));
    } else {
      const scale = q.scale ?? 1;
      const min = q.min ?? 0;
      for (let i = 0; i < count; i++) values[i] = (q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(2 * i, true)) * scale + min;
    }
    out.set(spec.name, values);
    offset += count * bytesPer;
  }
  if (offset !== data.byteLength) throw new WeightsError('invalid', 'weights', `weight files hold ${data.byteLength} bytes but the manifest describes ${offset}`);
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** True when the files needed for offline tests are present (../shared layout). */
export function sharedModelsPresent(): boolean {
  return existsSync(join(sharedDir('models'), MOBILENET_V2_TFLITE.fileName));
}
