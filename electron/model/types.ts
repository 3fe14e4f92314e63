/**
 * The shared vocabulary of the model pipeline: preprocess → backbones → head → Grad-CAM.
 * Every module of electron/model speaks these types, so the store, batch, report, CLI and
 * IPC layers can depend on them without depending on onnxruntime.
 */

import type { GateResult, OperatingPoint, Tier } from '#common/domain';
import type { PooledFeatures } from './pooled-features.ts';

export type { GateResult, Tier };

export type BackboneId = 'inception_v3' | 'mobilenet_v2';

/** Side of each backbone graph's square input: the converters build the graphs for it, preprocessing resizes to it. */
export const INCEPTION_INPUT_SIZE = 299;
export const MOBILENET_INPUT_SIZE = 224;

/** A feature map in NHWC order, as the Keras/TFLite sources lay them out. */
export interface FeatureMap {
  readonly data: Float32Array;
  /** [batch, height, width, channels] */
  readonly shape: readonly [number, number, number, number];
}

/**
 * Where the square model input came from in the original (EXIF-oriented) image, so heatmaps
 * can be placed back on the original geometry. Coordinates in original pixels.
 */
export interface CropBox {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** One decoded image, ready for both backbones. Pixels are RGB, 0..255, NHWC with batch 1. */
export interface PreparedImage {
  readonly file: string;
  /** Oriented size of the original image (after EXIF rotation). */
  readonly width: number;
  readonly height: number;
  readonly crop: CropBox;
  /** 299x299x3 float32 RGB 0..255 for InceptionV3. */
  readonly inception: Float32Array;
  /** 224x224x3 float32 RGB 0..255 for MobileNetV2. */
  readonly mobilenet: Float32Array;
  /**
   * The whole oriented image as 8-bit sRGB, downscaled to PreprocessOptions.orientedMaxSide, when
   * asked for (the input gate's quality checks read it).
   */
  readonly oriented?: {
    readonly rgb: Uint8Array;
    readonly width: number;
    readonly height: number;
    readonly originalWidth: number;
    readonly originalHeight: number;
  };
}

/** Why an input could not be used. Every bad file gets one of these, never a crash. */
export type ImageErrorCode =
  | 'empty'
  | 'not_found'
  | 'unreadable'
  | 'not_an_image'
  | 'unsupported_format'
  | 'truncated'
  | 'too_large'
  | 'decode_failed';

export class ImageInputError extends Error {
  override readonly name = 'ImageInputError';
  constructor(
    readonly code: ImageErrorCode,
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Which runtimes actually ran, reported with every result. */
export interface BackendInfo {
  /** onnxruntime execution provider that ran the backbones, e.g. 'cpu', 'cuda'. */
  readonly backbones: string;
  /** What ran the head: 'analytic-js', the app's own typed-array forward pass and gradient (head.ts). */
  readonly head: string;
}


export interface Classification {
  /** Calibrated probability of melanoma. */
  readonly pMalignant: number;
  /** Uncalibrated head output, kept for audit. */
  readonly pMalignantRaw: number;
  readonly label: 'malignant' | 'benign';
  readonly tier: Tier;
  /** Standard deviation of the calibrated probability over the test-time views. */
  readonly uncertainty: number;
  readonly threshold: number;
  readonly modelVersion: string;
  readonly backend: BackendInfo;
  readonly timingsMs: Readonly<Record<string, number>>;
  /**
   * The input gate's judgement (electron/model/input-gate/). When it is 'refused' the fields
   * above are still computed (a clinician may ask to see them anyway) but must not be shown as a
   * result: see common/gate.ts. Absent only from stand-in classifiers that predate the gate.
   */
  readonly gate?: GateResult;
  /**
   * The pooled vectors the head scored, one per test-time view (the store keeps them with the
   * prediction for clinic adaptation). Absent from stand-in classifiers without a head.
   */
  readonly pooled?: PooledFeatures;
}

export type CamKind = 'fused' | 'inception_v3' | 'mobilenet_v2';

/** A Grad-CAM heatmap in [0,1], row-major, on the model's square crop. */
export interface CamMap {
  readonly kind: CamKind;
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

export interface CamImages {
  readonly kind: CamKind;
  /** Colour-mapped overlay on the original geometry, PNG bytes. */
  readonly overlayPng: Buffer;
  /** The raw map as a small 8-bit grey PNG, for the UI to recolour. */
  readonly mapPng: Buffer;
}

export interface ClassifyOptions {
  /** Also compute Grad-CAM maps and overlays. */
  readonly cam?: boolean;
  readonly camOpacity?: number;
}

export interface ClassifyResult {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly classification: Classification;
  readonly cams?: readonly CamImages[];
}

/** The one service the batch pipeline, CLI and IPC handlers use to classify images. */
export interface Classifier {
  readonly modelVersion: string;
  classifyFile(file: string, options?: ClassifyOptions): Promise<ClassifyResult>;
  classifyBuffer(bytes: Buffer, name: string, options?: ClassifyOptions): Promise<ClassifyResult>;
  /** Switches the threshold preset without reloading; absent on classifiers with a single threshold. */
  setOperatingPoint?(preset: OperatingPoint): void;
  /** The presets' validation numbers (for the settings screen), when the model has them. */
  readonly operatingPoints?: Readonly<Record<OperatingPoint, { threshold: number; valSensitivity: number; valSpecificity: number }>>;
  dispose(): Promise<void>;
}
