import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isImageFileName, isWalkError, listImageFiles } from '../../electron/util/image-files.ts';
import { isRoot, makeHostileCorpus, nobodyCannotRead, projectModule, runAsNobody, type HostileCorpus } from '../helpers/hostile-corpus.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dermafuse-walk-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tree(root: string, files: string[]): Promise<void> {
  for (const f of files) {
    const full = join(root, f);
    await mkdir(join(full, '..'), { recursive: true });
    await writeFile(full, 'x');
  }
}

describe('walkImageFiles', () => {
  it('walks folders recursively in a deterministic order, image extensions only, hidden skipped', async () => {
    const root = join(dir, 'basic');
    await tree(root, ['b.jpg', 'a.PNG', 'Z.tiff', 'notes.txt', 'c.gif', '.hidden.jpg', '.git/x.jpg', 'sub/d.jpeg', 'sub/e.WebP', 'sub/f.tif', 'a2/g.jpg']);
    const got = (await listImageFiles([root])).map((e) => e.file.slice(root.length + 1));
    // Code-unit order: upper case before lower case, folders interleaved by name.
    expect(got).toEqual(['Z.tiff', 'a.PNG', 'a2/g.jpg', 'b.jpg', 'sub/d.jpeg', 'sub/e.WebP', 'sub/f.tif']);
  });

  it('yields an explicitly named file whatever its extension, and each file once', async () => {
    const root = join(dir, 'explicit');
    await tree(root, ['readme.txt', 'one.jpg']);
    const got = await listImageFiles([join(root, 'readme.txt'), root, join(root, 'one.jpg')]);
    expect(got.map((e) => e.file)).toEqual([join(root, 'readme.txt'), join(root, 'one.jpg')]);
  });

  it('reports missing paths as errors and goes on', async () => {
    const root = join(dir, 'missing');
    await tree(root, ['ok.jpg']);
    const got = await listImageFiles([join(root, 'nope'), root]);
    expect(got).toHaveLength(2);
    const [first, second] = got;
    expect(first && isWalkError(first) && first.code).toBe('not_found');
    expect(second && !isWalkError(second) && second.file).toBe(join(root, 'ok.jpg'));
  });

  it('terminates on symbolic-link loops with an error entry, and does not double-count linked folders', async () => {
    const root = join(dir, 'links');
    await tree(root, ['real/p.jpg']);
    await symlink('..', join(root, 'real', 'up')); // back to an ancestor: a loop
    await symlink('real', join(root, 'alias')); // the same folder by another route: not a loop
    await symlink('self.jpg', join(root, 'self.jpg')); // ELOOP
    await symlink('gone.jpg', join(root, 'dangling.jpg'));
    const got = await listImageFiles([root]);
    const files = got.filter((e) => !isWalkError(e)).map((e) => e.file);
    const errors = got.filter(isWalkError).map((e) => [e.file.slice(root.length + 1), e.code]);
    expect(files).toEqual([join(root, 'alias', 'p.jpg')]);
    expect(errors).toEqual([
      ['alias/up', 'symlink_loop'],
      ['dangling.jpg', 'not_found'],
      ['self.jpg', 'symlink_loop'],
    ]);
  });

  it.skipIf(isRoot())('reports an unreadable folder as an error entry (non-root)', async () => {
    const root = join(dir, 'locked');
    await tree(root, ['inner/a.jpg', 'b.jpg']);
    await chmod(join(root, 'inner'), 0o000);
    try {
      const got = await listImageFiles([root]);
      expect(got.filter(isWalkError).map((e) => e.code)).toEqual(['unreadable']);
      expect(got.filter((e) => !isWalkError(e))).toHaveLength(1);
    } finally {
      await chmod(join(root, 'inner'), 0o755);
    }
  });

  it.runIf(isRoot())('reports an unreadable folder as an error entry (child process as nobody)', async (ctx) => {
    const blocked = nobodyCannotRead([projectModule('electron/util/image-files.ts')]);
    if (blocked) {
      console.warn(`skipping the permission test as 'nobody': ${blocked}`);
      ctx.skip(blocked);
    }
    const root = join(dir, 'locked-root');
    await tree(root, ['inner/a.jpg', 'b.jpg']);
    await chmod(dir, 0o755);
    await chmod(join(root, 'inner'), 0o000);
    try {
      const out = await runAsNobody(
        `import { listImageFiles } from ${JSON.stringify(projectModule('electron/util/image-files.ts'))};\n` +
          `console.log('RESULT=' + JSON.stringify(await listImageFiles([${JSON.stringify(root)}])));\n`,
      );
      const line = out.split('\n').find((l) => l.startsWith('RESULT='));
      expect(line, out).toBeDefined();
      const got = JSON.parse(line!.slice('RESULT='.length)) as { file: string; code?: string }[];
      expect(got).toEqual([
        { file: join(root, 'b.jpg') },
        expect.objectContaining({ file: join(root, 'inner'), code: 'unreadable' }),
      ]);
    } finally {
      await chmod(join(root, 'inner'), 0o755);
    }
  });

  it('covers the hostile corpus: every good and bad file found, loops reported', async () => {
    const root = join(dir, 'corpus');
    const corpus: HostileCorpus = await makeHostileCorpus(root);
    const got = await listImageFiles([root]);
    const files = new Set(got.filter((e) => !isWalkError(e)).map((e) => e.file));
    const errors = new Set(got.filter(isWalkError).map((e) => e.file));
    for (const f of corpus.good) expect(files.has(f), f).toBe(true);
    for (const f of corpus.walkErrors) expect(errors.has(f), f).toBe(true);
    for (const { file } of corpus.bad) expect(files.has(file) || errors.has(file), file).toBe(true);
  });

  it('recognises image names case-insensitively', () => {
    expect(['a.JPG', 'b.Jpeg', 'c.tif', 'd.TIFF', 'e.webp', 'f.png'].every(isImageFileName)).toBe(true);
    expect(['a.gif', 'b.jpg.txt', 'jpg', 'c.heic'].some(isImageFileName)).toBe(false);
  });
});
