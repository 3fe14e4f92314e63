/**
 * Computes a model's Grad-CAM reference feature maps (cam-baseline.ts): the per-position mean of
 * both backbone maps over a seeded sample of TRAINING images of the data protocol, each under
 * several test-time views (lesion content averages towards symmetric; what remains is what the
 * network does at fixed positions). Shared by `dermafuse train` and training/scripts/cam-baseline.ts so a
 * retrained model ships the maps its explanations expect.
 */
import { seededRandom } from '../../electron/util/random.ts';
import { CAM_BASELINE_FORMAT, MeanMapAccumulator, expectedMeta, saveCamBaseline, type CamBaseline } from '../../electron/model/cam-baseline.ts';
import { createClassifier } from '../../electron/model/classifier.ts';
import { buildProtocol, type Protocol } from '../data/protocol.ts';
import { loadManifest } from '../../electron/model/manifest.ts';
import { VIEWS, type View } from '../../electron/model/views.ts';

export interface CamBaselineBuildOptions {
  /** Data root for the protocol (default: the protocol's own default, ../shared/data). */
  readonly dataDir?: string;
  /** An already built protocol (saves rebuilding it when the caller has one). */
  readonly protocol?: Protocol;
  readonly images?: number;
  readonly views?: readonly View[];
  readonly seed?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export const CAM_BASELINE_DEFAULTS = { images: 160, views: ['identity', 'hflip', 'vflip', 'rot180'] as readonly View[], seed: 11 };

export interface CamBaselineBuildResult {
  readonly baseline: CamBaseline;
  readonly used: number;
  readonly failed: number;
}

/** Builds the reference maps of the model in `modelDir` and writes cam-baseline.json/.bin there. */
export async function buildCamBaseline(modelDir: string, options: CamBaselineBuildOptions = {}): Promise<CamBaselineBuildResult> {
  const count = options.images ?? CAM_BASELINE_DEFAULTS.images;
  const views = options.views ?? CAM_BASELINE_DEFAULTS.views;
  const seed = options.seed ?? CAM_BASELINE_DEFAULTS.seed;
  for (const v of views) if (!(VIEWS as readonly string[]).includes(v)) throw new Error(`unknown view ${v}`);
  const manifest = loadManifest(modelDir);
  const protocol = options.protocol ?? (await buildProtocol(options.dataDir ? { dataDir: options.dataDir } : undefined));
  const train = protocol.items.filter((i) => i.role === 'train').sort((a, b) => a.id.localeCompare(b.id));
  const r = seededRandom(seed);
  for (let i = train.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [train[i], train[j]] = [train[j]!, train[i]!];
  }
  const chosen = train.slice(0, count);

  const classifier = await createClassifier({ modelDir, camBaseline: null });
  const inc = new MeanMapAccumulator();
  const mob = new MeanMapAccumulator();
  let failed = 0;
  try {
    for (const [n, item] of chosen.entries()) {
      try {
        const prepared = await classifier.prepareFile(item.file);
        const scored = await classifier.scoreViews(prepared, views);
        inc.add(scored.features.inception);
        mob.add(scored.features.mobilenet);
      } catch {
        failed++;
      }
      options.onProgress?.(n + 1, chosen.length);
    }
    if (failed === chosen.length) throw new Error(`cam baseline: none of the ${chosen.length} training images could be read`);
    const inception = inc.mean();
    const mobilenet = mob.mean();
    const bySource: Record<string, number> = {};
    for (const c of chosen) bySource[c.source] = (bySource[c.source] ?? 0) + 1;
    const baseline: CamBaseline = {
      inception,
      mobilenet,
      meta: {
        format: CAM_BASELINE_FORMAT,
        ...expectedMeta(manifest, classifier.inceptionLayers),
        inceptionShape: inception.shape,
        mobilenetShape: mobilenet.shape,
        images: chosen.length - failed,
        views: [...views],
        source: `data protocol training role, seeded sample (seed ${seed}): ${JSON.stringify(bySource)}`,
        createdAt: new Date().toISOString(),
      },
    };
    await saveCamBaseline(modelDir, baseline);
    return { baseline, used: chosen.length - failed, failed };
  } finally {
    await classifier.dispose();
  }
}
