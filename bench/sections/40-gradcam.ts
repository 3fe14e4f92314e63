/**
 * Grad-CAM cost on top of classification: the shipped model (or, until one ships, a randomly
 * initialised head of the same shape; the cost does not depend on the weights' values), warm,
 * per image on real images, with the manifest's test-time views.
 *   gradcam_ms          maps for every view and branch, un-flipped, averaged, fused (the figure Grad-CAM's time budget is set on)
 *   gradcam_render_ms   fused overlay PNG on the original + raw grey map PNG
 *   classify_ms         file → calibrated probability (no maps)
 *   classify_cam_ms     the same with maps and the fused overlay
 */
import { describeError, isMissingModule, round, row, timeIt, type Row, type Section } from '../lib.ts';

type ClassifierModule = typeof import('../../electron/model/classifier.ts');
type Loaded = Awaited<ReturnType<ClassifierModule['createClassifier']>>;

let classifier: Loaded | undefined;

type SharedBackbones = NonNullable<Parameters<ClassifierModule['createClassifier']>[0]>['backbones'];
type Manifest = import('../../electron/model/manifest.ts').ModelManifest;
type HeadConfig = import('../../electron/model/head.ts').HeadConfig;

/** fusion-v1's shape: the fallback when no shipped manifest can be read. */
const V1_SHAPE: HeadConfig = { branches: ['inception', 'mobilenet'], inceptionChannels: 768, mobilenetChannels: 1280, pooling: 'avg', hidden: [64], dropout: 0, inceptionLayer: 'mixed6' };

/** The backbones the backbones section loaded, when they output every tap the head reads. */
function sharedBackbones(shared: Map<string, unknown>, layers: readonly string[]): SharedBackbones {
  const b = shared.get('backbones') as SharedBackbones;
  return b && layers.every((l) => b.inceptionLayers.includes(l)) ? b : undefined;
}

/**
 * A randomly initialised head of the shipped head's shape (its manifest config when one can be
 * read, else fusion-v1's), fed by the shipped taps; Grad-CAM cost does not depend on weight values.
 */
async function randomHeadClassifier(mod: ClassifierModule, shared: Map<string, unknown>, shipped: Manifest | undefined): Promise<Loaded> {
  const { TfjsHead } = await import('../../training/head/tfjs-head.ts');
  const config = (shipped?.head.config as HeadConfig | undefined) ?? V1_SHAPE;
  const layers = shipped ? mod.inceptionLayersOf(shipped) : [V1_SHAPE.inceptionLayer!];
  const random = TfjsHead.create(config, 1);
  const head = random.toRuntime();
  random.dispose();
  return mod.createClassifier({
    head,
    backbones: sharedBackbones(shared, layers),
    camBaseline: null,
    manifest: {
      version: 'bench-random-head',
      createdAt: new Date().toISOString(),
      backbones: { inception_v3: { source: 'nsfwjs', sha256: '', layers, scaling: shipped?.backbones.inception_v3.scaling ?? 'unit' }, mobilenet_v2: { source: 'coral', sha256: '' } },
      preprocess: { crop: 'centre_square', colorConstancy: shipped?.preprocess.colorConstancy ?? 'none' },
      head: { file: '', pooling: config.pooling, branches: [...config.branches], inceptionLayer: layers[0]!, inceptionLayers: layers, hidden: [...config.hidden], dropout: 0 },
      temperature: 1,
      threshold: 0.5,
      tiers: { reviewAt: 0.3, highAt: 0.7 },
      tta: shipped?.tta ?? ['identity', 'hflip'],
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
      const { loadManifest, shippedModelDir } = await import('../../electron/model/manifest.ts');
      let dir: string | undefined;
      let manifest: Manifest | undefined;
      try {
        dir = shippedModelDir();
        manifest = loadManifest(dir);
      } catch (err) {
        notes.push(`no shipped model manifest (${describeError(err)})`);
      }
      try {
        if (!dir || !manifest) throw new Error('no shipped model');
        // The shipped head and taps; the backbones section's sessions are reused when they output
        // those taps (they are loaded from the same manifest), so no second InceptionV3 loads.
        classifier = await mod.createClassifier({ modelDir: dir, manifest, backbones: sharedBackbones(ctx.shared, mod.inceptionLayersOf(manifest)) });
        notes.push(`model ${classifier.modelVersion} (${dir})`);
      } catch (err) {
        if (manifest) notes.push(`cannot load the shipped model (${describeError(err)})`);
        classifier = await randomHeadClassifier(mod, ctx.shared, manifest);
        notes.push(`a randomly initialised head of the ${manifest ? `shipped model ${manifest.version}'s` : 'fusion-v1'} shape; cost does not depend on weight values`);
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
    notes.push(`views ${c.views.join(', ')}; InceptionV3 taps ${c.inceptionLayers.join('+')}; head engine ${c.backend.head}; backbones ${c.backend.backbones}`);
    return {
      rows,
      notes,
      record: {
        gradcam_ms: round(maps.median, 1),
        gradcampp_ms: round(mapsPlus.median, 1),
        gradcam_render_ms: round(render.median, 1),
        classify_ms: round(plain.median, 1),
        classify_cam_ms: round(withCam.median, 1),
        gradcam_inception_taps: c.inceptionLayers.join('+'),
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
