/**
 * A model version that ships its own (fine-tuned) backbone graph: the classifier runs the graph
 * from the model folder, pinned by the manifest's sha256, and refuses a damaged copy. fusion-v2
 * (which runs the pinned sources' conversions) gets the pinned MobileNetV2 conversion as its "own"
 * graph, so the predictions must equal the pinned pipeline's exactly.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mobilenetGraph } from '../../electron/model/backbones.ts';
import { createClassifier } from '../../electron/model/classifier.ts';
import { loadManifest } from '../../electron/model/manifest.ts';
import { sharedModelsPresent, WeightsError } from '../../electron/model/weights.ts';
import { modelsDir, sharedDir } from '../../electron/util/paths.ts';
import { sha256Hex } from '../../electron/util/hash.ts';

const fixture = sharedDir('data', 'fixtures', 'malignant');
const present = existsSync(fixture) && sharedModelsPresent();
if (!present) console.warn('skipping model-graph test: ../shared/data/fixtures or ../shared/models is absent');

/** A version that runs the pinned graphs (the shipped one may carry fine-tuned graphs of its own). */
const pinnedModelDir = modelsDir('fusion-v2');

const root = mkdtempSync(join(tmpdir(), 'model-graph-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!present)('a model folder with its own backbone graph', () => {
  async function modelWithGraph(): Promise<string> {
    const dir = join(root, `model-${Math.random().toString(36).slice(2)}`);
    cpSync(pinnedModelDir, dir, { recursive: true });
    const graph = await mobilenetGraph();
    writeFileSync(join(dir, 'mobilenet_v2.onnx'), graph.onnx);
    const manifest = loadManifest(dir);
    manifest.backbones.mobilenet_v2.graph = { file: 'mobilenet_v2.onnx', sha256: sha256Hex(graph.onnx), bytes: graph.onnx.byteLength, macsPerImage: graph.info.macsPerImage, outputs: ['features', 'logits'] };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
    return dir;
  }
  const image = (): string => join(fixture, readdirFirst(fixture));

  it('runs the graph from the folder and predicts as the pinned pipeline does', async () => {
    const dir = await modelWithGraph();
    const pinned = await createClassifier({ modelDir: pinnedModelDir });
    const own = await createClassifier({ modelDir: dir });
    try {
      const a = await pinned.classifyFile(image());
      const b = await own.classifyFile(image());
      expect(b.classification.pMalignant).toBe(a.classification.pMalignant);
    } finally {
      await pinned.dispose();
      await own.dispose();
    }
  }, 300_000);

  it('refuses a graph whose bytes differ from the manifest, saying what to do', async () => {
    const dir = await modelWithGraph();
    const file = join(dir, 'mobilenet_v2.onnx');
    const bytes = readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    writeFileSync(file, bytes);
    const error = await createClassifier({ modelDir: dir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as WeightsError).code).toBe('corrupt');
    expect((error as Error).message).toMatch(/does not match the model's manifest.*reinstall/);
    // The model's own file is evidence, never deleted as a damaged cache entry would be.
    expect(existsSync(file)).toBe(true);
  }, 300_000);
});

function readdirFirst(dir: string): string {
  return readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort()[0]!;
}
