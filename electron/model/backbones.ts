/**
 * The two frozen feature extractors, native on onnxruntime-node. Graph contract (shared with the
 * converters): input `image` float32 [N,H,W,3] RGB 0..255 (INCEPTION_INPUT_SIZE, MOBILENET_INPUT_SIZE),
 * normalisation and the NHWC→NCHW transpose happen inside the graph, and every output is an NHWC
 * float32 feature map named after its layer.
 */
import { cachedGraph, evictGraph, type CachedGraph } from './convert/cache.ts';
import { DEFAULT_INCEPTION_LAYERS, INCEPTION_LAYER_NAMES, convertInceptionV3, type InceptionScaling } from './convert/inception-v3.ts';
import { MOBILENET_FEATURES, MOBILENET_LOGITS, convertMobilenetV2 } from './convert/mobilenet-v2.ts';
import { loadModelGraph, type ModelGraphRef } from './model-graph.ts';
import { createSession, ort, resolveProviderChoice, type ExecutionProviderChoice, type StartedSession } from './runtime.ts';
import { INCEPTION_INPUT_SIZE, MOBILENET_INPUT_SIZE, type FeatureMap } from './types.ts';
import { IMAGENET_LABELS, INCEPTION_SOURCE_SHA256, MOBILENET_V2_TFLITE, loadInceptionSource, loadPinnedFile } from './weights.ts';

export { DEFAULT_INCEPTION_LAYERS, INCEPTION_INPUT_SIZE, INCEPTION_LAYER_NAMES, MOBILENET_INPUT_SIZE, type InceptionScaling };

export interface BackboneOptions {
  /** InceptionV3 layers to output (Keras names such as 'mixed5'); default ['mixed6']. */
  inceptionLayers?: string[];
  /** 'unit' = x/255 (what nsfwjs feeds), 'symmetric' = x/127.5-1 (what ImageNet lower layers saw). */
  inceptionScaling?: 'unit' | 'symmetric';
  executionProvider?: ExecutionProviderChoice;
  intraOpThreads?: number;
  /** Graphs shipped in the model's folder (fine-tuned), used instead of the converted pinned sources. */
  graphs?: { inception?: ModelGraphRef; mobilenet?: ModelGraphRef };
}

export const DEFAULT_INCEPTION_SCALING: InceptionScaling = 'unit';

export class BackboneInputError extends Error {
  override readonly name = 'BackboneInputError';
}

/** What the benchmark and the manifest need to know about one loaded graph. */
export interface BackboneGraphInfo {
  readonly onnxPath: string;
  readonly macsPerImage: number;
  readonly sourceSha256: string;
  /** Milliseconds spent converting in this load; 0 when the graph came from the cache. */
  readonly conversionMs: number;
  readonly sessionMs: number;
}

async function startGraph(graph: () => Promise<CachedGraph>, options: BackboneOptions, cached = true): Promise<{ started: StartedSession; graph: CachedGraph; sessionMs: number }> {
  let g = await graph();
  const t0 = performance.now();
  const sessionOptions = { executionProvider: options.executionProvider, intraOpThreads: options.intraOpThreads };
  try {
    return { started: await createSession(g.onnx, sessionOptions), graph: g, sessionMs: performance.now() - t0 };
  } catch (e) {
    // Only the CPU path proves the file itself is bad; a forced accelerator failing says nothing about it.
    const choice = resolveProviderChoice(sessionOptions.executionProvider);
    // A model's own graph was verified by sha256 and is never deleted: its failure is final.
    if (!cached || g.converted || (choice !== 'auto' && choice !== 'cpu')) throw e;
    // A damaged cache file (disk full, killed mid-write on an old version): convert once more.
    await evictGraph(g.path);
    g = await graph();
    const t1 = performance.now();
    return { started: await createSession(g.onnx, sessionOptions), graph: g, sessionMs: performance.now() - t1 };
  }
}

function info(g: CachedGraph, sessionMs: number): BackboneGraphInfo {
  return { onnxPath: g.path, macsPerImage: g.info.macsPerImage, sourceSha256: g.info.sourceSha256, conversionMs: g.converted ? g.info.conversionMs : 0, sessionMs };
}

function featureMap(t: ort.Tensor | undefined, name: string): FeatureMap {
  if (!t || t.dims.length !== 4) throw new Error(`backbone output ${name} missing or not 4-D`);
  const [n, h, w, c] = t.dims as [number, number, number, number];
  return { data: t.data as Float32Array, shape: [n, h, w, c] };
}

function imageTensor(x: Float32Array, batch: number, size: number, which: string): ort.Tensor {
  if (!Number.isInteger(batch) || batch < 1) throw new BackboneInputError(`${which}: batch must be a positive integer, got ${batch}`);
  const expected = batch * size * size * 3;
  if (x.length !== expected) throw new BackboneInputError(`${which}: expected ${expected} values (${batch}x${size}x${size}x3), got ${x.length}`);
  return new ort.Tensor('float32', x, [batch, size, size, 3]);
}

export class Backbones {
  /** What actually ran, e.g. 'cpu' or 'cuda'. */
  readonly executionProvider: string;
  readonly inceptionLayers: readonly string[];
  readonly inceptionScaling: InceptionScaling;
  readonly inceptionInfo: BackboneGraphInfo;
  readonly mobilenetInfo: BackboneGraphInfo;
  private disposed = false;

  private constructor(
    private readonly inception: ort.InferenceSession,
    private readonly mobilenet: ort.InferenceSession,
    fields: { executionProvider: string; layers: readonly string[]; scaling: InceptionScaling; inceptionInfo: BackboneGraphInfo; mobilenetInfo: BackboneGraphInfo },
  ) {
    this.executionProvider = fields.executionProvider;
    this.inceptionLayers = fields.layers;
    this.inceptionScaling = fields.scaling;
    this.inceptionInfo = fields.inceptionInfo;
    this.mobilenetInfo = fields.mobilenetInfo;
  }

  /** Loads (converting into the cache on first use) both backbones. */
  static async load(opts: BackboneOptions = {}): Promise<Backbones> {
    const layers = [...new Set(opts.inceptionLayers?.length ? opts.inceptionLayers : DEFAULT_INCEPTION_LAYERS)];
    for (const l of layers) if (!INCEPTION_LAYER_NAMES.includes(l)) throw new BackboneInputError(`unknown InceptionV3 layer '${l}' (choose from ${INCEPTION_LAYER_NAMES.join(', ')})`);
    const scaling = opts.inceptionScaling ?? DEFAULT_INCEPTION_SCALING;

    const shipped = opts.graphs ?? {};
    const absent = layers.filter((l) => shipped.inception && !shipped.inception.outputs.includes(l));
    if (absent.length) throw new BackboneInputError(`the model's InceptionV3 graph has no output ${absent.join(', ')}`);
    const mobile = shipped.mobilenet ? await startGraph(() => loadModelGraph(shipped.mobilenet!, 'MobileNetV2'), opts, false) : await startGraph(() => mobilenetGraph(), opts);
    const incepGraph = shipped.inception ? () => loadModelGraph(shipped.inception!, 'InceptionV3') : () => inceptionGraph(layers, scaling);
    const incep = await startGraph(incepGraph, opts, !shipped.inception).catch(async (e: unknown) => {
      await mobile.started.session.release();
      throw e;
    });
    return new Backbones(incep.started.session, mobile.started.session, {
      executionProvider: incep.started.executionProvider === mobile.started.executionProvider ? incep.started.executionProvider : `${incep.started.executionProvider}+${mobile.started.executionProvider}`,
      layers,
      scaling,
      inceptionInfo: info(incep.graph, incep.sessionMs),
      mobilenetInfo: info(mobile.graph, mobile.sessionMs),
    });
  }

  private check(): void {
    if (this.disposed) throw new Error('Backbones used after dispose()');
  }

  async runMobilenet(x: Float32Array, batch: number): Promise<FeatureMap> {
    this.check();
    const r = await this.mobilenet.run({ image: imageTensor(x, batch, MOBILENET_INPUT_SIZE, 'MobileNetV2') }, [MOBILENET_FEATURES]);
    return featureMap(r[MOBILENET_FEATURES], MOBILENET_FEATURES);
  }

  /** ImageNet logits [batch,1001] (index 0 = background), for sanity checks of the weights. */
  async runMobilenetImagenet(x: Float32Array, batch: number): Promise<{ logits: Float32Array; classes: number }> {
    this.check();
    const r = await this.mobilenet.run({ image: imageTensor(x, batch, MOBILENET_INPUT_SIZE, 'MobileNetV2') }, [MOBILENET_LOGITS]);
    const t = r[MOBILENET_LOGITS]!;
    return { logits: t.data as Float32Array, classes: t.dims[1] as number };
  }

  async runInception(x: Float32Array, batch: number): Promise<Record<string, FeatureMap>> {
    this.check();
    const r = await this.inception.run({ image: imageTensor(x, batch, INCEPTION_INPUT_SIZE, 'InceptionV3') }, [...this.inceptionLayers]);
    return Object.fromEntries(this.inceptionLayers.map((l) => [l, featureMap(r[l], l)]));
  }

  /** Both backbones, one after the other: on a few cores, running them concurrently only oversubscribes. */
  async run(inception: Float32Array, mobilenet: Float32Array, batch: number): Promise<{ inception: Record<string, FeatureMap>; mobilenet: FeatureMap }> {
    const i = await this.runInception(inception, batch);
    const m = await this.runMobilenet(mobilenet, batch);
    return { inception: i, mobilenet: m };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([this.inception.release(), this.mobilenet.release()]);
  }
}

/** The MobileNetV2 graph the app runs: the last conv map and the ImageNet logits. */
export async function mobilenetGraph(): Promise<CachedGraph> {
  return cachedGraph('mobilenet_v2', MOBILENET_V2_TFLITE.sha256, { outputs: [MOBILENET_FEATURES, MOBILENET_LOGITS] }, async () =>
    convertMobilenetV2(await loadPinnedFile(MOBILENET_V2_TFLITE), { withLogits: true }),
  );
}

export async function inceptionGraph(layers: readonly string[], scaling: InceptionScaling): Promise<CachedGraph> {
  const ordered = INCEPTION_LAYER_NAMES.filter((l) => layers.includes(l));
  return cachedGraph('inception_v3', INCEPTION_SOURCE_SHA256, { layers: ordered, scaling }, async () => convertInceptionV3(await loadInceptionSource(), { layers: ordered, scaling }));
}

/** The 1001 ImageNet class names of the MobileNetV2 head (index 0 = background). */
export async function imagenetLabels(): Promise<string[]> {
  const text = (await loadPinnedFile(IMAGENET_LABELS)).toString('utf8');
  return text.split('\n').map((l) => l.trim()).filter((l, i, all) => l.length > 0 || i < all.length - 1);
}
