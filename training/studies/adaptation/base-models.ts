/**
 * The models a simulated clinic starts from.
 *
 * - Leave-one-source-out bases: the shipped recipe (models/fusion-v2/manifest.json
 *   training.recipe) trained WITHOUT source S, exactly as `dermafuse train --holdout S` does it:
 *   head on the training role of the other sources, Platt calibration, operating threshold and
 *   tier cut-offs on their validation role. The head and its calibration are cached, so a resumed
 *   study never retrains.
 * - The shipped fusion-v2 itself, read from its model folder.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionHead } from '../../../electron/model/head.ts';
import { loadManifest } from '../../../electron/model/manifest.ts';
import type { BaseModel } from '../../../electron/model/adaptation/types.ts';
import { calibrate } from '../../../electron/model/manifest.ts';
import { buildProtocol, type ProtocolItem, type Source } from '../../data/protocol.ts';
import { runRecipe, type Recipe } from '../../build/experiment.ts';
import { chooseOperatingPoint, DEFAULT_TARGETS, fitPlatt } from '../../../electron/model/operating-rules.ts';

/** A base model plus what the study reports about where it came from. */
export interface SimulationBase extends BaseModel {
  readonly name: string;
  readonly operating: { readonly threshold: number; readonly reviewAt: number; readonly highAt: number };
  readonly trainCount?: { readonly benign: number; readonly malignant: number };
}

interface StoredCalibration {
  readonly temperature: number;
  readonly calibrationBias: number;
  readonly operating: SimulationBase['operating'];
  readonly trainCount: { benign: number; malignant: number };
  readonly validation: number;
}

/** The recipe the shipped model was trained with (its manifest is the record of what shipped). */
export function shippedRecipe(modelDir: string): Recipe {
  const recipe = loadManifest(modelDir).training.recipe as Recipe | undefined;
  if (!recipe || recipe.fusion !== 'late' || !recipe.tta?.length) throw new Error(`${modelDir}/manifest.json has no late-fusion training.recipe`);
  return recipe;
}

/** Melanoma-vs-benign validation logits of a run (other malignant lesions are not scored, as in training). */
function validationOf(items: readonly ProtocolItem[], logits: ReadonlyMap<string, number>): { logits: number[]; labels: number[] } {
  const out = { logits: [] as number[], labels: [] as number[] };
  for (const i of items) {
    const z = logits.get(i.id);
    if (i.role !== 'val' || i.label === 'other_malignant' || z === undefined) continue;
    out.logits.push(z);
    out.labels.push(i.label === 'malignant' ? 1 : 0);
  }
  return out;
}

/**
 * fusion-v2's recipe trained without `source`: trained and calibrated once, then read from
 * `cacheRoot/base-<source>-<recipe digest>/`.
 */
export async function losoBase(source: Source, recipe: Recipe, cacheRoot: string, log: (line: string) => void = () => undefined): Promise<SimulationBase> {
  const digest = createHash('sha256').update(JSON.stringify({ recipe, source })).digest('hex').slice(0, 12);
  const dir = join(cacheRoot, `base-${source}-${digest}`);
  const calibrationFile = join(dir, 'calibration.json');
  if (!existsSync(calibrationFile)) {
    log(`training the base model without ${source} (fusion-v2 recipe, cached features)...`);
    const protocol = await buildProtocol({ holdOut: source });
    const train = protocol.items.filter((i) => i.role === 'train');
    const val = protocol.items.filter((i) => i.role === 'val');
    const run = await runRecipe(recipe, train, val);
    try {
      const v = validationOf(val, run.logits);
      const { temperature, bias } = fitPlatt(v.logits, v.labels);
      const op = chooseOperatingPoint(
        v.logits.map((z) => calibrate(z, temperature, bias)),
        v.labels,
        DEFAULT_TARGETS,
      );
      // Written to a temporary folder and renamed, so a killed run never leaves a head without its calibration.
      const tmp = `${dir}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      await run.head.save(tmp);
      const stored: StoredCalibration = {
        temperature,
        calibrationBias: bias,
        operating: { threshold: op.threshold, reviewAt: op.reviewAt, highAt: op.highAt },
        trainCount: { benign: run.trainCount.benign, malignant: run.trainCount.malignant },
        validation: v.labels.length,
      };
      writeFileSync(join(tmp, 'calibration.json'), JSON.stringify(stored, null, 2) + '\n');
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
      log(`base without ${source}: ${run.trainCount.benign} benign + ${run.trainCount.malignant} melanoma, T=${temperature.toFixed(3)}, bias ${bias.toFixed(3)}, calibrated on ${v.labels.length} validation images`);
    } finally {
      run.head.dispose();
    }
  }
  const stored = JSON.parse(readFileSync(calibrationFile, 'utf8')) as StoredCalibration;
  return {
    name: `fusion-v2 recipe without ${source}`,
    head: await FusionHead.load(dir),
    temperature: stored.temperature,
    calibrationBias: stored.calibrationBias,
    operating: stored.operating,
    trainCount: stored.trainCount,
  };
}

/** The shipped model as the app loads it: head, Platt calibration, operating threshold and tiers. */
export async function shippedBase(modelDir: string): Promise<SimulationBase> {
  const manifest = loadManifest(modelDir);
  return {
    name: manifest.version,
    head: await FusionHead.load(modelDir),
    temperature: manifest.temperature,
    calibrationBias: manifest.calibrationBias ?? 0,
    operating: { threshold: manifest.threshold, reviewAt: manifest.tiers.reviewAt, highAt: manifest.tiers.highAt },
  };
}
