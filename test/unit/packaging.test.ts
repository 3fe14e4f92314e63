/**
 * What ships and how it starts: the installed app carries the runtime wing only (no tfjs, no
 * training/), and `npm start` without the Electron binary explains itself instead of a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../electron/util/paths.ts';

const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
  allowScripts: Record<string, boolean>;
};

function sources(dir: string): string[] {
  return readdirSync(join(projectRoot, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|svelte|mjs|js)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('the installed app carries the runtime only', () => {
  it('has no tfjs among its dependencies and no app source imports tfjs or training/', () => {
    expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith('@tensorflow/'))).toEqual([]);
    expect(pkg.devDependencies['@tensorflow/tfjs']).toBeDefined(); // the model factory still uses it
    const offending = ['electron', 'common', 'renderer/src'].flatMap(sources).filter((f) => /from\s+['"](@tensorflow\/|[./]*\/training\/)/.test(readFileSync(f, 'utf8')));
    expect(offending).toEqual([]);
  });

  it('compiles electron/ and common/ only, into a dist/ cleaned first, and packs only dist/ of the sources', () => {
    const build = JSON.parse(readFileSync(join(projectRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    expect(build.include.every((p) => p.startsWith('electron/') || p.startsWith('common/'))).toBe(true);
    expect(pkg.scripts.build).toMatch(/^node scripts\/clean-build\.mjs && tsc -p tsconfig\.build\.json/);
    const files = readFileSync(join(projectRoot, 'electron-builder.yml'), 'utf8').split(/^files:\n/m)[1]!.split(/\n\S/)[0]!;
    expect(files).not.toMatch(/training|electron\/|common\/|\bsrc\b/);
    // npm installs tfjs in the production tree as nsfwjs's peer; the installer leaves it out.
    expect(files).toContain('"!**/node_modules/@tensorflow/**"');
  });

  it("blocks onnxruntime-node's download of the CUDA add-on by policy, without an unknown .npmrc key", () => {
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
    const npmrc = join(projectRoot, '.npmrc');
    if (existsSync(npmrc)) expect(readFileSync(npmrc, 'utf8')).not.toMatch(/^\s*onnxruntime-node-install/m);
    expect(pkg.scripts['gpu:install']).toBe('node scripts/gpu-install.mjs');
  });
});

describe('npm start without the Electron binary', () => {
  const check = (distPath: string) =>
    spawnSync(process.execPath, [join(projectRoot, 'scripts', 'check-electron.mjs')], {
      cwd: projectRoot,
      env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: distPath },
      encoding: 'utf8',
    });

  it('checks before building, says in one paragraph what to do and what works meanwhile, and fails without a stack trace', () => {
    expect(pkg.scripts.start).toMatch(/^node scripts\/check-electron\.mjs && npm run build && electron \.$/);
    const empty = mkdtempSync(join(tmpdir(), 'dermafuse-no-electron-'));
    try {
      const r = check(empty);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      const text = r.stderr.trim();
      expect(text.split('\n')).toHaveLength(1); // one paragraph
      expect(text).toContain('node node_modules/electron/install.js');
      expect(text).toContain('npx dermafuse --help');
      expect(text).toContain('npm run preview');
      expect(text).not.toMatch(/\n\s+at |Error:/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('lets npm start go on when the binary is there', () => {
    const dist = mkdtempSync(join(tmpdir(), 'dermafuse-electron-'));
    try {
      const pathTxt = join(projectRoot, 'node_modules', 'electron', 'path.txt');
      const binary = join(dist, existsSync(pathTxt) ? readFileSync(pathTxt, 'utf8').trim() : 'electron');
      mkdirSync(dirname(binary), { recursive: true });
      writeFileSync(binary, '');
      const r = check(dist);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dist, { recursive: true, force: true });
    }
  });

  it('offers the browser preview as one command', () => {
    expect(pkg.scripts.preview).toBe('vite build --config renderer/vite.config.ts --logLevel warn && tsx scripts/dev-bridge.ts');
  });
});
