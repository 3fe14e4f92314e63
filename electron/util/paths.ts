import { homedir } from 'node:os';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (where package.json lives), whether running from source or from dist/. */
export const projectRoot = ((): string => {
  const twoUp = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
  // Compiled: <root>/dist/electron/common; from source: <root>/electron/common.
  return basename(twoUp) === 'dist' && existsSync(join(twoUp, '..', 'package.json')) ? resolve(twoUp, '..') : twoUp;
})();

/**
 * Derived artefacts (converted ONNX graphs, feature caches) live outside the repository so
 * they are never committed and survive across checkouts; override with DERMAFUSE_CACHE.
 */
export function cacheDir(...parts: string[]): string {
  const base =
    process.env.DERMAFUSE_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dermafuse');
  return join(base, ...parts);
}

/**
 * The read-only shared folder that sits beside the checkout on development and CI machines
 * (../shared). Never written to.
 */
export function sharedDir(...parts: string[]): string {
  const base = process.env.DERMAFUSE_SHARED ?? resolve(projectRoot, '..', 'shared');
  return join(base, ...parts);
}

export function modelsDir(...parts: string[]): string {
  return join(projectRoot, 'models', ...parts);
}
