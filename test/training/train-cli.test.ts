import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDataRoot } from '../../training/cli/train.ts';

const root = mkdtempSync(join(tmpdir(), 'train-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
for (const s of ['ham10000', 'isic2017', 'isic9']) {
  mkdirSync(join(root, 'data', s), { recursive: true });
  writeFileSync(join(root, 'data', s, 'labels.csv'), 'path,label\n');
}

describe('resolveDataRoot', () => {
  it('accepts the folder holding the three sets, or the three set folders', () => {
    expect(resolveDataRoot([join(root, 'data')])).toBe(join(root, 'data'));
    expect(resolveDataRoot(['ham10000', 'isic2017', 'isic9'].map((s) => join(root, 'data', s)))).toBe(join(root, 'data'));
  });
  it('rejects a folder without the sets with a message naming them', () => {
    expect(() => resolveDataRoot([root])).toThrow(/ham10000\/, isic2017\/, isic9\//);
    expect(() => resolveDataRoot([join(root, 'data', 'ham10000')])).toThrow(/--data/);
  });
});
