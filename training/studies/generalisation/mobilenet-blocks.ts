/**
 * MobileNetV2 with intermediate block outputs (e.g. 'expanded_conv_13', [N,14,14,96]) beside the
 * final map and the ImageNet logits: a research graph for the generalisation study's extra members.
 * The app's graph (electron/model/backbones.ts `mobilenetGraph`) has no block outputs; this one
 * lives in the same graph cache under its own key, so both convert once.
 */
import { cachedGraph, type CachedGraph } from '../../../electron/model/convert/cache.ts';
import { MOBILENET_BLOCK_NAMES, MOBILENET_FEATURES, MOBILENET_LOGITS, convertMobilenetV2 } from '../../../electron/model/convert/mobilenet-v2.ts';
import { createSession, ort, type SessionOptions } from '../../../electron/model/runtime.ts';
import { MOBILENET_INPUT_SIZE, type FeatureMap } from '../../../electron/model/types.ts';
import { MOBILENET_V2_TFLITE, loadPinnedFile } from '../../../electron/model/weights.ts';

export { MOBILENET_BLOCK_NAMES };

/** Throws on a name that is not an inverted-residual block of the graph. */
export function checkMobilenetBlocks(blocks: readonly string[]): void {
  for (const b of blocks) if (!MOBILENET_BLOCK_NAMES.includes(b)) throw new Error(`unknown MobileNetV2 block '${b}' (choose from ${MOBILENET_BLOCK_NAMES.join(', ')})`);
}

/** The converted graph with `blocks` as extra outputs (in graph order, whatever order they are asked in). */
export async function mobilenetBlocksGraph(blocks: readonly string[]): Promise<CachedGraph> {
  checkMobilenetBlocks(blocks);
  const ordered = MOBILENET_BLOCK_NAMES.filter((b) => blocks.includes(b));
  return cachedGraph('mobilenet_v2', MOBILENET_V2_TFLITE.sha256, { outputs: [MOBILENET_FEATURES, MOBILENET_LOGITS, ...ordered] }, async () =>
    convertMobilenetV2(await loadPinnedFile(MOBILENET_V2_TFLITE), { withLogits: true, blocks: ordered }),
  );
}

export interface MobilenetBlocks {
  /** What actually ran, e.g. 'cpu'. */
  readonly executionProvider: string;
  /** The requested block outputs plus the final map as 'features', for a batch of [N,224,224,3] images. */
  run(x: Float32Array, batch: number): Promise<Record<string, FeatureMap>>;
  release(): Promise<void>;
}

/** A session on the block graph. */
export async function loadMobilenetBlocks(blocks: readonly string[], options: SessionOptions = {}): Promise<MobilenetBlocks> {
  const graph = await mobilenetBlocksGraph(blocks);
  const { session, executionProvider } = await createSession(graph.onnx, options);
  const names = [MOBILENET_FEATURES, ...MOBILENET_BLOCK_NAMES.filter((b) => blocks.includes(b))];
  return {
    executionProvider,
    async run(x, batch) {
      if (x.length !== batch * MOBILENET_INPUT_SIZE * MOBILENET_INPUT_SIZE * 3) throw new Error(`expected ${batch}x${MOBILENET_INPUT_SIZE}x${MOBILENET_INPUT_SIZE}x3 values, got ${x.length}`);
      const r = await session.run({ image: new ort.Tensor('float32', x, [batch, MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE, 3]) }, names);
      return Object.fromEntries(
        names.map((n) => {
          const t = r[n]!;
          return [n, { data: t.data as Float32Array, shape: t.dims as unknown as FeatureMap['shape'] }];
        }),
      );
    },
    release: () => session.release(),
  };
}
