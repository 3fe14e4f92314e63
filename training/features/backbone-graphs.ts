/**
 * Fine-tuned backbone graphs (exported by training/finetune) as the model factory uses them:
 * described once from the file (sha256, size, outputs), so feature caches are keyed by the
 * graph's own hash and a built model version can ship it in its folder.
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { inceptionGraph, mobilenetGraph, type InceptionScaling } from '../../electron/model/backbones.ts';
import type { ModelGraphEntry, ModelGraphRef } from '../../electron/model/model-graph.ts';
import { createSession } from '../../electron/model/runtime.ts';
import { sha256Hex } from '../../electron/util/hash.ts';

export type BackboneGraphs = { readonly inception?: ModelGraphRef; readonly mobilenet?: ModelGraphRef };

/** Reads a graph file, checks that onnxruntime starts it, and records what the manifest needs. */
export async function describeGraph(file: string, backbone: 'inception' | 'mobilenet', taps: readonly string[], scaling: InceptionScaling): Promise<ModelGraphRef> {
  const path = resolve(file);
  const bytes = await readFile(path);
  const { session } = await createSession(bytes, { executionProvider: 'cpu' });
  const outputs = [...session.outputNames];
  await session.release();
  // Fine-tuning keeps the architecture, so the pinned graph's operation count holds.
  const base = backbone === 'mobilenet' ? await mobilenetGraph() : await inceptionGraph(taps, scaling);
  return { file: basename(path), path, sha256: sha256Hex(bytes), bytes: bytes.byteLength, macsPerImage: base.info.macsPerImage, outputs };
}

/** The manifest entry of a graph copied into the model folder under `file`. */
export function graphEntry(ref: ModelGraphRef, file: string): ModelGraphEntry {
  return { file, sha256: ref.sha256, bytes: ref.bytes, macsPerImage: ref.macsPerImage, outputs: [...ref.outputs] };
}
