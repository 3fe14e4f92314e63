import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PREPROCESS_VERSION } from '../../electron/model/preprocess.ts';
import { inceptionSpace, mobilenetSpace } from '../../training/features/extract.ts';
import { FeatureStore, pendingJobs, poolMap, spaceKey, type FeatureSpace } from '../../training/features/feature-cache.ts';

const root = mkdtempSync(join(tmpdir(), 'features-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const space: FeatureSpace = {
  backbone: 'mobilenet_v2', sourceSha256: 'abc', layers: [], scaling: 'symmetric', colorConstancy: 'none', crop: 'centre', preprocessVersion: 1,
  segments: [{ name: 'avg', length: 3 }, { name: 'max', length: 2 }],
};
const key = (i: number) => i.toString(16).padStart(64, '0');
const rec = (i: number) => ({ sha256: key(i), features: Float32Array.from([i, i + 0.5, i + 1, -i, 2 * i]) });

describe('FeatureStore', () => {
  it('appends, re-opens and reads named segments in order', () => {
    const store = new FeatureStore(space, root);
    store.append('identity', [rec(1), rec(2)]);
    store.append('identity', [rec(2), rec(3)]); // duplicate key ignored
    const reopened = new FeatureStore(space, root);
    expect(reopened.count('identity')).toBe(3);
    const { matrix, width, missing } = reopened.read('identity', [key(3), key(9), key(1)], ['max', 'avg']);
    expect(width).toBe(5);
    expect(missing).toEqual([1]);
    expect(Array.from(matrix.subarray(0, 5))).toEqual([-3, 6, 3, 3.5, 4]);
    expect(Array.from(matrix.subarray(10, 15))).toEqual([-1, 2, 1, 1.5, 2]);
    expect(reopened.has('hflip', key(1))).toBe(false);
  });

  it('drops a torn last record (killed mid-write) and keeps every complete one', () => {
    const store = new FeatureStore(space, root);
    const file = join(store.dir, 'torn.bin');
    store.append('torn', [rec(1), rec(2)]);
    appendFileSync(file, Buffer.alloc(17, 7));
    const reopened = new FeatureStore(space, root);
    expect(reopened.count('torn')).toBe(2);
    expect(statSync(file).size).toBe(2 * reopened.recordBytes);
    reopened.append('torn', [rec(4)]);
    expect(Array.from(new FeatureStore(space, root).read('torn', [key(4)], ['avg']).matrix)).toEqual([4, 4.5, 5]);
  });

  it('rejects records of the wrong width and remembers failed files', () => {
    const store = new FeatureStore(space, root);
    expect(() => store.append('identity', [{ sha256: key(7), features: new Float32Array(4) }])).toThrow(/expects 5/);
    store.recordError('identity', key(8), '/x.jpg', 'truncated');
    expect(store.failed('identity').has(key(8))).toBe(true);
  });
});

describe('feature space key', () => {
  it('changes with the preprocessing version, so a preprocessing change misses the cache', () => {
    const store = new FeatureStore(space, root);
    store.append('versioned', [rec(1)]);
    expect(new FeatureStore(space, root).has('versioned', key(1))).toBe(true);
    const bumped = new FeatureStore({ ...space, preprocessVersion: 2 }, root);
    expect(spaceKey(bumped.space)).not.toBe(spaceKey(space));
    expect(bumped.dir).not.toBe(store.dir);
    expect(bumped.has('versioned', key(1))).toBe(false);
    expect(bumped.read('versioned', [key(1)], ['avg']).missing).toEqual([0]);
    expect(pendingJobs([{ sha256: key(1) }], ['versioned'], [bumped]).jobs).toHaveLength(1);
  });

  it('is the current PREPROCESS_VERSION in the spaces extraction writes', () => {
    expect(mobilenetSpace('none').preprocessVersion).toBe(PREPROCESS_VERSION);
    expect(inceptionSpace(['mixed6'], 'unit').preprocessVersion).toBe(PREPROCESS_VERSION);
    expect(spaceKey(mobilenetSpace('none'))).toContain(`-pp${PREPROCESS_VERSION}-`);
  });
});

describe('poolMap', () => {
  it('averages and maxes over space per channel for the chosen item', () => {
    // 2 items, 1x2 spatial, 2 channels
    const data = Float32Array.from([9, 9, 9, 9, 1, 4, 3, -2]);
    const { avg, max } = poolMap(data, [2, 1, 2, 2], 1);
    expect(Array.from(avg)).toEqual([2, 1]);
    expect(Array.from(max)).toEqual([3, 4]);
  });
});

describe('pendingJobs', () => {
  it('plans each distinct image once per view, skipping what every store holds and what failed', () => {
    const first = new FeatureStore({ ...space, sourceSha256: 'jobs-a' }, root);
    const second = new FeatureStore({ ...space, sourceSha256: 'jobs-b' }, root);
    first.append('identity', [rec(1), rec(2)]);
    second.append('identity', [rec(1)]); // image 2 is in one store only: redone
    first.recordError('identity', key(3), '/x/3.jpg', 'unreadable');
    const items = [1, 2, 3, 4, 4].map((i) => ({ sha256: key(i), file: `/x/${i}.jpg` }));
    const { jobs, skipped } = pendingJobs(items, ['identity', 'hflip'], [first, second]);
    expect(jobs.map((j) => `${j.view}:${parseInt(j.item.sha256, 16)}`)).toEqual(['identity:2', 'identity:4', 'hflip:1', 'hflip:2', 'hflip:3', 'hflip:4']);
    expect(skipped).toBe(2);
    expect(pendingJobs(items, ['identity'], [first]).jobs.map((j) => parseInt(j.item.sha256, 16))).toEqual([4]);
  });
});
