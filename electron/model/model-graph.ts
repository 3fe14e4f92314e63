/**
 * A backbone graph that ships inside a model version's folder (a fine-tuned network, exported by
 * the model factory with the same graph contract as the converted pinned sources). It is the
 * model's own artefact, so it is identified by the sha256 in the manifest and checked on every
 * load: a damaged or swapped file never runs.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { sha256Hex } from '../util/hash.ts';
import type { CachedGraph } from './convert/cache.ts';
import { WeightsError } from './weights.ts';

/** The manifest entry of a shipped graph: file relative to the model folder, pinned by sha256. */
export const ModelGraphEntry = z.object({
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().positive(),
  /** Multiply-accumulates per image, as counted for the graph it was fine-tuned from. */
  macsPerImage: z.number().nonnegative(),
  outputs: z.array(z.string()).min(1),
});
export type ModelGraphEntry = z.infer<typeof ModelGraphEntry>;

/** An entry with its file resolved to an absolute path. */
export type ModelGraphRef = ModelGraphEntry & { readonly path: string };

export async function loadModelGraph(ref: ModelGraphRef, what: string): Promise<CachedGraph> {
  let onnx: Buffer;
  try {
    onnx = await readFile(ref.path);
  } catch (e) {
    throw new WeightsError('missing', ref.path, `${what}: the model's graph ${ref.path} cannot be read (${(e as Error).message}); reinstall the model version`);
  }
  const digest = sha256Hex(onnx);
  if (onnx.byteLength !== ref.bytes || digest !== ref.sha256) {
    throw new WeightsError('corrupt', ref.path, `${what}: ${ref.path} does not match the model's manifest (sha256 ${digest.slice(0, 12)}…, expected ${ref.sha256.slice(0, 12)}…); reinstall the model version`);
  }
  return {
    path: ref.path,
    onnx,
    converted: false,
    info: { macsPerImage: ref.macsPerImage, outputs: ref.outputs.map((name) => ({ name, shape: [] })), sourceSha256: ref.sha256, options: { shipped: true }, converterVersion: 0, conversionMs: 0, bytes: ref.bytes, sha256: ref.sha256 },
  };
}
