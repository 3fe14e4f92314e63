/**
 * The Grad-CAM reference feature maps: the mean backbone feature map, per position, over a sample
 * of training images and test-time views. Measured here (training/scripts/cam-baseline.ts output): the
 * InceptionV3 mixed6 map has a bright top row and fixed column stripes on EVERY image, and they
 * stay in the network's frame when the image is flipped, i.e. they come from position (zero
 * padding against learned, asymmetric kernels), not from the lesion. Plain Grad-CAM paints them on
 * every overlay. Subtracting this mean map (gradcam.ts `baseline`) leaves what is particular to
 * the image; for an average-pooled linear head the map then sums exactly to logit(image) −
 * logit(mean map).
 *
 * It depends on the backbones and preprocessing only (not on the head), and ships beside the
 * manifest as cam-baseline.json (what it was computed from) + cam-baseline.bin (float32 NHWC,
 * InceptionV3 map then MobileNetV2 map).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from './manifest.ts';
import type { FeatureMap } from './types.ts';

export const CAM_BASELINE_FORMAT = 'dermafuse-cam-baseline/1';
export const CAM_BASELINE_JSON = 'cam-baseline.json';
export const CAM_BASELINE_BIN = 'cam-baseline.bin';

export interface CamBaselineMeta {
  readonly format: typeof CAM_BASELINE_FORMAT;
  readonly inceptionLayer: string;
  readonly inceptionScaling: string;
  readonly inceptionSha256: string;
  readonly mobilenetSha256: string;
  readonly colorConstancy: string;
  readonly inceptionShape: readonly [number, number, number, number];
  readonly mobilenetShape: readonly [number, number, number, number];
  readonly images: number;
  readonly views: readonly string[];
  readonly source: string;
  readonly createdAt: string;
}

export interface CamBaseline {
  readonly meta: CamBaselineMeta;
  readonly inception: FeatureMap;
  readonly mobilenet: FeatureMap;
}

export class CamBaselineError extends Error {
  override readonly name = 'CamBaselineError';
}

/** Running per-position mean of batched feature maps. */
export class MeanMapAccumulator {
  private sum: Float64Array | undefined;
  private shape: [number, number, number, number] | undefined;
  count = 0;

  add(map: FeatureMap): void {
    const [n, h, w, c] = map.shape;
    const size = h * w * c;
    if (!this.sum) {
      this.sum = new Float64Array(size);
      this.shape = [1, h, w, c];
    } else if (this.sum.length !== size) {
      throw new CamBaselineError('feature maps of different shapes cannot be averaged');
    }
    for (let i = 0; i < n; i++) {
      const off = i * size;
      for (let k = 0; k < size; k++) this.sum[k]! += map.data[off + k]!;
    }
    this.count += n;
  }

  mean(): FeatureMap {
    if (!this.sum || !this.shape || this.count === 0) throw new CamBaselineError('no feature maps were added');
    return { data: Float32Array.from(this.sum, (v) => v / this.count), shape: this.shape };
  }
}

/** The fields of the manifest the baseline must agree with. */
export function expectedMeta(manifest: ModelManifest, inceptionLayers: readonly string[]): Pick<CamBaselineMeta, 'inceptionLayer' | 'inceptionScaling' | 'inceptionSha256' | 'mobilenetSha256' | 'colorConstancy'> {
  return {
    // Several taps are joined along channels; the key names them in that order ('mixed5+mixed6+mixed7').
    inceptionLayer: inceptionLayers.join('+'),
    inceptionScaling: manifest.backbones.inception_v3.scaling,
    inceptionSha256: manifest.backbones.inception_v3.sha256,
    mobilenetSha256: manifest.backbones.mobilenet_v2.sha256,
    colorConstancy: manifest.preprocess.colorConstancy,
  };
}

export async function saveCamBaseline(dir: string, baseline: CamBaseline): Promise<void> {
  const bin = Buffer.alloc((baseline.inception.data.length + baseline.mobilenet.data.length) * 4);
  Buffer.from(baseline.inception.data.buffer, baseline.inception.data.byteOffset, baseline.inception.data.byteLength).copy(bin, 0);
  Buffer.from(baseline.mobilenet.data.buffer, baseline.mobilenet.data.byteOffset, baseline.mobilenet.data.byteLength).copy(bin, baseline.inception.data.byteLength);
  await writeFile(join(dir, CAM_BASELINE_BIN), bin);
  await writeFile(join(dir, CAM_BASELINE_JSON), JSON.stringify(baseline.meta, null, 2) + '\n');
}

/**
 * The baseline shipped beside a manifest, or undefined when the model has none. A baseline made
 * for other backbones, layer, scaling or preprocessing is an error, never silently used.
 */
export async function loadCamBaseline(dir: string, expected: ReturnType<typeof expectedMeta>): Promise<CamBaseline | undefined> {
  const jsonFile = join(dir, CAM_BASELINE_JSON);
  if (!existsSync(jsonFile)) return undefined;
  let meta: CamBaselineMeta;
  try {
    meta = JSON.parse(await readFile(jsonFile, 'utf8')) as CamBaselineMeta;
  } catch (error) {
    throw new CamBaselineError(`${jsonFile} is not valid JSON: ${(error as Error).message}`);
  }
  if (meta.format !== CAM_BASELINE_FORMAT) throw new CamBaselineError(`${jsonFile} is not a ${CAM_BASELINE_FORMAT} file`);
  for (const [k, v] of Object.entries(expected)) {
    if ((meta as unknown as Record<string, unknown>)[k] !== v) {
      throw new CamBaselineError(`${jsonFile} was made for ${k}=${String((meta as unknown as Record<string, unknown>)[k])}, the model uses ${v}: regenerate it (training/scripts/cam-baseline.ts)`);
    }
  }
  const bytes = await readFile(join(dir, CAM_BASELINE_BIN));
  const ni = meta.inceptionShape.reduce((a, b) => a * b, 1);
  const nm = meta.mobilenetShape.reduce((a, b) => a * b, 1);
  if (bytes.length !== (ni + nm) * 4) throw new CamBaselineError(`${join(dir, CAM_BASELINE_BIN)} has ${bytes.length} bytes, expected ${(ni + nm) * 4}`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return {
    meta,
    inception: { data: all.slice(0, ni), shape: meta.inceptionShape },
    mobilenet: { data: all.slice(ni), shape: meta.mobilenetShape },
  };
}
