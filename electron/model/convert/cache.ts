/**
 * Converted ONNX graphs are derived artefacts: they live under cacheDir('onnx'), keyed by the
 * source's sha256, the conversion options and the converter version, so changing any of them
 * produces a new file and a stale graph is never reused. Writes are atomic (temp + rename).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../../util/paths.ts';
import type { ConvertedGraph } from './tflite-to-onnx.ts';

/** Bump when the emitted graphs change for the same inputs. */
export const CONVERTER_VERSION = 1;

export interface GraphInfo {
  readonly macsPerImage: number;
  readonly outputs: ConvertedGraph['outputs'];
  readonly sourceSha256: string;
  readonly options: unknown;
  readonly converterVersion: number;
  readonly conversionMs: number;
  /** Size and sha256 of the .onnx file, checked on every cache hit: a damaged graph is never run. */
  readonly bytes: number;
  readonly sha256: string;
}

export interface CachedGraph {
  readonly path: string;
  /** The verified graph bytes (sessions are created from these, so what was checked is what runs). */
  readonly onnx: Uint8Array;
  readonly info: GraphInfo;
  /** True when this call converted (first use), false when the cache already held it. */
  readonly converted: boolean;
}

export function graphCacheKey(sourceSha256: string, options: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify({ sourceSha256, options, converterVersion: CONVERTER_VERSION }))
    .digest('hex')
    .slice(0, 20);
}

export async function cachedGraph(name: string, sourceSha256: string, options: unknown, convert: () => Promise<ConvertedGraph> | ConvertedGraph): Promise<CachedGraph> {
  const dir = cacheDir('onnx');
  const path = join(dir, `${name}-${graphCacheKey(sourceSha256, options)}.onnx`);
  const infoPath = `${path}.json`;
  try {
    const info = JSON.parse(await readFile(infoPath, 'utf8')) as GraphInfo;
    if (info.converterVersion === CONVERTER_VERSION && info.sourceSha256 === sourceSha256 && info.bytes === (await stat(path)).size) {
      const onnx = await readFile(path);
      if (createHash('sha256').update(onnx).digest('hex') === info.sha256) return { path, onnx, info, converted: false };
    }
  } catch {
    // not cached yet (or the sidecar is damaged): convert below
  }
  // Anything else (missing, truncated, altered, older converter) is converted afresh below.
  const t0 = performance.now();
  const graph = await convert();
  const info: GraphInfo = {
    macsPerImage: graph.macsPerImage,
    outputs: graph.outputs,
    sourceSha256,
    options,
    converterVersion: CONVERTER_VERSION,
    conversionMs: Math.round(performance.now() - t0),
    bytes: graph.onnx.byteLength,
    sha256: createHash('sha256').update(graph.onnx).digest('hex'),
  };
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, graph.onnx);
  await rename(tmp, path);
  // The sidecar is written last: its presence means the graph beside it is complete.
  await writeFile(`${infoPath}.${process.pid}.tmp`, JSON.stringify(info, null, 1));
  await rename(`${infoPath}.${process.pid}.tmp`, infoPath);
  return { path, onnx: graph.onnx, info, converted: true };
}

/** Drops a cached graph that failed to load so the next attempt converts afresh. */
export async function evictGraph(path: string): Promise<void> {
  await rm(`${path}.json`, { force: true });
  await rm(path, { force: true });
}
