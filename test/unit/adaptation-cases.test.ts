/** The case checks before any fitting: one diagnosis per lesion, while one patient may have both. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AdaptationInputError, casesFromLabels, checkCases, type AdaptationCase } from '../../electron/adaptation/cases.ts';
import type { Classifier } from '../../electron/model/types.ts';

const features = { width: 2, views: ['identity'], data: new Float32Array(2) };
const kase = (id: string, group: string, lesion: string | null, label: 0 | 1): AdaptationCase => ({ id, group, lesion, label, features });

describe('checkCases', () => {
  it('allows a patient with a melanoma and a benign lesion', () => {
    const cases = [kase('image:1', 'patient:1', '10', 1), kase('image:2', 'patient:1', '11', 0), kase('image:3', 'patient:2', '12', 0)];
    expect(checkCases(cases, 'the store')).toEqual({ melanoma: 1, benign: 2 });
  });

  it('refuses one lesion with both diagnoses, naming the lesion and its images', () => {
    const cases = [kase('image:1', 'patient:1', '10', 1), kase('image:2', 'patient:1', '10', 0), kase('image:3', 'patient:2', '12', 0)];
    expect(() => checkCases(cases, 'the store')).toThrow(AdaptationInputError);
    expect(() => checkCases(cases, 'the store')).toThrow(/same lesion in the store: lesion 10: melanoma \(image:1\) and benign \(image:2\)/);
  });
});

describe('casesFromLabels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dermafuse-cases-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'img'));
  for (const name of ['a', 'b', 'c']) writeFileSync(join(dir, 'img', `${name}.png`), '');
  const stand: Classifier = {
    modelVersion: 'stand-in',
    classifyFile: () => Promise.resolve({ classification: { pooled: features } }),
  } as unknown as Classifier;

  it('knows a lesion by its patient too, so per-patient lesion numbers do not clash', async () => {
    const csv = join(dir, 'labels.csv');
    writeFileSync(csv, 'path,label,patient,lesion\nimg/a.png,melanoma,p1,1\nimg/b.png,benign,p2,1\nimg/c.png,benign,p1,2\n');
    const set = await casesFromLabels(csv, { classifier: stand });
    expect(set.counts).toEqual({ melanoma: 1, benign: 2, excluded: 0 });
    expect(set.cases.map((c) => c.group)).toEqual(['patient:p1', 'patient:p2', 'patient:p1']);
  });

  it('refuses two diagnoses for one lesion of one patient before classifying anything', async () => {
    const csv = join(dir, 'conflict.csv');
    writeFileSync(csv, 'path,label,patient,lesion\nimg/a.png,melanoma,p1,1\nimg/b.png,benign,p1,1\nimg/c.png,benign,p2,1\n');
    const loader = (): Promise<Classifier> => Promise.reject(new Error('classifier loaded'));
    await expect(casesFromLabels(csv, { classifier: loader })).rejects.toThrow(/lesion 1 of patient p1: melanoma \(img\/a.png\) and benign \(img\/b.png\)/);
  });
});
