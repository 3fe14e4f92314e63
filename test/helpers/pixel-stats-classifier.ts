/**
 * A deterministic stand-in for the fusion classifier, for testing the store and batch logic
 * without loading the backbones. It really decodes every image through the project's own
 * preprocessing (so every hostile file fails exactly as it would with the real model) and
 * derives its score from the pixels: darker, more contrasted crops score higher. Overlays are
 * real PNGs made from the prepared pixels. It is not a model of anything clinical.
 *
 * The input gate is the real one as far as a stand-in can have it: the shipped quality checks on
 * the same decoded image the real classifier gives them; no out-of-distribution stage (it needs
 * a model's features), so every result says `oodChecked: false`, as for a model without statistics.
 */
import sharp from 'sharp';
import { GATE_MAX_SIDE } from '../../electron/model/input-gate/decode.ts';
import { checkQualityImage, gateVersion, shippedThresholds } from '../../electron/model/input-gate/gate.ts';
import { prepareBuffer, prepareImage } from '../../electron/model/preprocess.ts';
import type { CamImages, Classifier, ClassifyOptions, ClassifyResult, PreparedImage } from '../../electron/model/types.ts';

export interface PixelStatsClassifierOptions {
  readonly modelVersion?: string;
  /** Extra wait per image, to make batches slow enough to interrupt. */
  readonly delayMs?: number;
  /** Called before each classification (tests use it to crash or count). */
  readonly beforeClassify?: (name: string) => void;
}

export class PixelStatsClassifier implements Classifier {
  readonly modelVersion: string;
  /** Names of every image classified, in order: lets tests prove nothing was classified twice. */
  readonly calls: string[] = [];

  constructor(private readonly options: PixelStatsClassifierOptions = {}) {
    this.modelVersion = options.modelVersion ?? 'pixel-stats-1';
  }

  classifyFile(file: string, options?: ClassifyOptions): Promise<ClassifyResult> {
    return this.classify(file, () => prepareImage(file, { orientedMaxSide: GATE_MAX_SIDE }), options);
  }

  classifyBuffer(bytes: Buffer, name: string, options?: ClassifyOptions): Promise<ClassifyResult> {
    return this.classify(name, () => prepareBuffer(bytes, name, { orientedMaxSide: GATE_MAX_SIDE }), options);
  }

  async dispose(): Promise<void> {}

  private async classify(name: string, prepare: () => Promise<PreparedImage>, options: ClassifyOptions = {}): Promise<ClassifyResult> {
    this.options.beforeClassify?.(name);
    const t0 = performance.now();
    const prepared = await prepare();
    if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
    this.calls.push(name);
    const px = prepared.mobilenet;
    let sum = 0;
    let sumSq = 0;
    for (const v of px) {
      sum += v;
      sumSq += v * v;
    }
    const mean = sum / px.length / 255;
    const sd = Math.sqrt(Math.max(0, sumSq / px.length / 65025 - mean * mean));
    const logit = 4 * (0.55 - mean) + 3 * (sd - 0.15);
    const pRaw = 1 / (1 + Math.exp(-logit));
    const p = Math.min(1, Math.max(0, pRaw));
    const threshold = 0.4;
    const cams = options.cam ? await this.cams(prepared) : undefined;
    const quality = checkQualityImage(prepared.oriented!);
    return {
      file: name,
      width: prepared.width,
      height: prepared.height,
      classification: {
        pMalignant: p,
        pMalignantRaw: pRaw,
        label: p >= threshold ? 'malignant' : 'benign',
        tier: p >= 0.7 ? 'high' : p >= threshold ? 'review' : 'low',
        uncertainty: sd / 10,
        threshold,
        modelVersion: this.modelVersion,
        backend: { backbones: 'none', head: 'pixel-stats' },
        timingsMs: { total_ms: performance.now() - t0 },
        gate: {
          verdict: quality.verdict,
          reasons: quality.reasons.map((r) => ({ ...r })),
          scores: { quality: { ...quality.scores.quality } },
          version: gateVersion(shippedThresholds()),
          oodChecked: false,
        },
      },
      ...(cams ? { cams } : {}),
    };
  }

  private async cams(prepared: PreparedImage): Promise<CamImages[]> {
    const rgb = Buffer.from(Uint8Array.from(prepared.mobilenet, (v) => Math.max(0, Math.min(255, Math.round(v)))));
    const raw = { raw: { width: 224, height: 224, channels: 3 as const } };
    const overlayPng = await sharp(rgb, raw).resize(64, 64).png().toBuffer();
    const mapPng = await sharp(rgb, raw).greyscale().negate().resize(16, 16).png().toBuffer();
    return [{ kind: 'fused', overlayPng, mapPng }];
  }
}
