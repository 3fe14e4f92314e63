/**
 * Grad-CAM cost on top of classification: the shipped model (or, until one ships, a randomly
 * initialised head of the same shape; the cost does not depend on the weights' values), warm,
 * per image on real images, with the manifest's test-time views.
 *   gradcam_ms          maps for every view and branch, un-flipped, averaged, fused (the issue's key)
 *   gradcam_render_ms   fused overlay PNG on the original + raw grey map PNG
 *   classify_ms         file → calibrated probability (no maps)
 *   classify_cam_ms     the same with maps and the fused overlay
 */
import { existsSync } from 'node:fs';
import { describeError, isMissingModule, round, row, timeIt, type Row, type Section } from '../lib.ts';

type ClassifierModule = typeof import('../../electron/model/classifier.ts');
type Loaded = Awaited<ReturnType<ClassifierModule['createClassifier']>>;

let classifier: Loaded | undefined;

async function randomHeadClassifier(mod: ClassifierModule, shared: Map<string, unknown>): Promise<Loaded> {
  const { FusionHead } = await import('../../electron/model/head.ts');
  const head = FusionHead.create({ branches: ['inception', 'mobilenet'], inceptionChannels: 768, mobilenetChannels: 1280, pooling: 'avg', hidden: [64], dropout: 0, inceptionLayer: 'mixed6' }, 1);
  const backbones = shared.get('backbones') as Parameters<ClassifierModule['createClassifier']>[0] extends infer O ? (O extends { backbones?: infer B } ? B : never) : never;
  return mod.createClassifier({
    head,
    backbones: backbones && backbones.inceptionLayers.includes('mixed6') ? backbones : undefined,
    manifest: {
      version: 'bench-random-head',
      createdAt: new Date().toISOString(),
      backbones: { inception_v3: { source: 'nsfwjs', sha256: '', layers: ['mixed6'], scaling: 'unit' }, mobilenet_v2: { source: 'coral', sha256: '' } },
      preprocess: { crop: 'centre_square', colorConstancy: 'none' },
      head: { file: '', pooling: 'avg', branches: ['inception', 'mobilenet'], inceptionLayer: 'mixed6', hidden: [64], dropout: 0 },
      temperature: 1,
      threshold: 0.5,
      tiers: { reviewAt: 0.3, highAt: 0.7 },
      tta: ['identity', 'hflip'],
      metrics: {},
      training: {},
    },
  });
}

const section: Section = {
  name: 'Grad-CAM (maps from the head gradient, overlays)',
  async run(ctx) {
    let mod: ClassifierModule;
    try {
      mod = await import('../../electron/model/classifier.ts');
    } catch (err) {
      return { skipped: isMissingModule(err) ? `classifier not there yet: ${describeError(err)}` : `cannot import classifier: ${describeError(err)}` };
    }
    const notes: string[] = [];
    try {
      const { shippedModelDir } = await import('../../electron/model/manifest.ts');
      let dir: string | undefined;
      try {
        dir = shippedModelDir();
      } catch {
        dir = undefined;
      }
      if (dir && existsSync(dir)) {
        classifier = await mod.createClassifier({ modelDir: dir });
        notes.push(`model ${classifier.modelVersion}`);
      } else {
        classifier = await randomHeadClassifier(mod, ctx.shared);
        notes.push('no shipped model yet: a randomly initialised head of the shipped shape (mixed6 + MobileNetV2, hidden 64); cost does not depend on weight values');
      }
    } catch (err) {
      return { skipped: `cannot create the classifier: ${describeError(err)}` };
    }
    const c = classifier;
    const images = ctx.images.slice(0, ctx.quick ? 4 : 12);
    const prepared = await Promise.all(images.map((f) => c.prepareFile(f)));
    const scored: Awaited<ReturnType<Loaded['scoreViews']>>[] = [];
    for (const p of prepared) scored.push(await c.scoreViews(p));

    let k = 0;
    const next = (): number => k++ % images.length;
    const maps = await timeIt(() => c.camMaps(scored[next()]!, 'malignant'), ctx.runs * 2, ctx.warmup);
    const mapsPlus = await timeIt(() => c.camMaps(scored[next()]!, 'malignant', 'gradcam++'), ctx.runs, ctx.warmup);
    const rendered = scored.map((s) => c.camMaps(s, 'malignant'));
    const render = await timeIt(async () => {
      const i = next();
      await c.render(rendered[i]!, prepared[i]!, images[i]!, images[i]!, { camKinds: ['fused'] });
    }, ctx.runs, ctx.warmup);
    const plain = await timeIt(() => c.classifyFile(images[next()]!), ctx.runs, ctx.warmup);
    const withCam = await timeIt(() => c.classifyFile(images[next()]!, { cam: true, camKinds: ['fused'] }), ctx.runs, ctx.warmup);

    const rows: Row[] = [
      row(`Grad-CAM maps (${c.views.length} views x ${c.branches.length} branches, fused)`, maps),
      row('Grad-CAM++ maps', mapsPlus),
      row('fused overlay + raw map PNGs', render),
      row('classify, file → probability', plain),
      row('classify with Grad-CAM + fused overlay', withCam),
    ];
    notes.push(`views ${c.views.join(', ')}; head engine ${c.backend.head}; backbones ${c.backend.backbones}`);
    return {
      rows,
      notes,
      record: {
        gradcam_ms: round(maps.median, 1),
        gradcampp_ms: round(mapsPlus.median, 1),
        gradcam_render_ms: round(render.median, 1),
        classify_ms: round(plain.median, 1),
        classify_cam_ms: round(withCam.median, 1),
      },
      targets: [{ key: 'gradcam_ms', op: '<=', value: 30, label: 'Grad-CAM added per image' }],
    };
  },
  async dispose() {
    await classifier?.dispose();
    classifier = undefined;
  },
};

export default section;
