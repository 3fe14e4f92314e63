/**
 * Classifier factories the services host imports by name in the tests (HostConfig.classifier):
 * a function cannot cross into the host process, a module path and an export name can. Each is
 * called with the settings and the JSON options the test gave.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from '#common/domain';
import type { Classifier, ClassifyOptions, ClassifyResult } from '../../electron/model/types.ts';
import { modelsDir } from '../../electron/util/paths.ts';
import { PixelStatsClassifier } from './pixel-stats-classifier.ts';
import { testManifest } from './test-manifest.ts';

export const HOST_CLASSIFIERS = new URL('./host-classifiers.ts', import.meta.url).pathname;

/** The model's loading fails with this message (the degraded screens, the contract fuzzing). */
export async function unavailableModel(_settings: Settings, options: { message: string }): Promise<Classifier> {
  throw new Error(options.message);
}

/**
 * Holds classifications of files under `under` after the first `pass` of them until the file
 * `open` exists: a batch is then deterministically part-way while a test looks at it.
 */
export interface Gate {
  readonly under: string;
  readonly pass: number;
  readonly open: string;
}

function gated(classifier: Classifier, gate: Gate | undefined): Classifier {
  if (!gate) return classifier;
  let seen = 0;
  const wait = async (name: string) => {
    if (!name.startsWith(gate.under) || ++seen <= gate.pass) return;
    while (!existsSync(gate.open)) await new Promise((r) => setTimeout(r, 50));
  };
  return {
    modelVersion: classifier.modelVersion,
    ...(classifier.operatingPoints ? { operatingPoints: classifier.operatingPoints } : {}),
    ...(classifier.setOperatingPoint ? { setOperatingPoint: (p: Parameters<NonNullable<Classifier['setOperatingPoint']>>[0]) => classifier.setOperatingPoint!(p) } : {}),
    async classifyFile(file: string, options?: ClassifyOptions): Promise<ClassifyResult> {
      await wait(file);
      return classifier.classifyFile(file, options);
    },
    async classifyBuffer(bytes: Buffer, name: string, options?: ClassifyOptions): Promise<ClassifyResult> {
      await wait(name);
      return classifier.classifyBuffer(bytes, name, options);
    },
    dispose: () => classifier.dispose(),
  };
}

/**
 * The shipped model when there is one (or the model folder the services name). Before a model ships, the real pipeline (native backbones,
 * head, calibration, Grad-CAM) with a randomly initialised head, so the screens still show real
 * outputs of the real code; the probabilities then mean nothing.
 */
export async function realModel(_settings: Settings, options: { scratch: string; gate?: Gate }, model: { dir: string | null } = { dir: null }): Promise<Classifier> {
  const { createClassifier } = await import('../../electron/model/classifier.ts');
  // The clinic's adopted local model, when the services ask for one.
  if (model.dir) return gated(await createClassifier({ modelDir: model.dir }), options.gate);
  if (existsSync(modelsDir('current.json'))) return gated(await createClassifier(), options.gate);
  console.warn('e2e: models/current.json is absent; using the real pipeline with a randomly initialised head');
  const { TfjsHead } = await import('../../training/head/tfjs-head.ts');
  const dir = join(options.scratch, 'model');
  const head = TfjsHead.create({ branches: ['inception', 'mobilenet'], inceptionChannels: 768, mobilenetChannels: 1280, pooling: 'avg', hidden: [32], dropout: 0, inceptionLayer: 'mixed6' }, 17);
  await head.save(dir);
  head.dispose();
  const manifest = testManifest({ version: 'e2e-random-head', temperature: 1, tiers: { reviewAt: 0.3, highAt: 0.6 }, tta: ['identity', 'hflip'] });
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return gated(await createClassifier({ modelDir: dir }), options.gate);
}

/** The pixel-statistics stand-in, slowed down so a batch is still running when a test acts. */
export async function pixelStats(_settings: Settings, options: { delayMs?: number; gate?: Gate } = {}): Promise<Classifier> {
  return gated(new PixelStatsClassifier({ delayMs: options.delayMs ?? 0 }), options.gate);
}

/**
 * The real classifier of the model folder the services name (null: the shipped one) on stand-in
 * backbones (adapt-fixtures.ts): clinic adaptation, adoption and reclassification without the weights.
 */
export async function standInBackbones(_settings: Settings, _options: unknown, model: { dir: string | null } = { dir: null }): Promise<Classifier> {
  const { SHIPPED_DIR, standInClassifier } = await import('./adapt-fixtures.ts');
  return standInClassifier(model.dir ?? SHIPPED_DIR);
}
