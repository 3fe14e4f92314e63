import { describe, expect, it } from 'vitest';
import { hstack, FallbackReader, readBlocks, selectRows, type BlockReader } from '../../training/studies/generalisation/features.ts';
import {
  encodeMetadata,
  metadataDropout,
  metadataFromColumns,
  metadataMatrix,
  METADATA_WIDTH,
  observedFields,
  siteGroup,
} from '../../training/studies/generalisation/metadata.ts';

describe('metadata encoding', () => {
  it('parses HAM10000 columns and treats unknowns as missing', () => {
    expect(metadataFromColumns({ age: '45.0', sex: 'male', localization: 'back' })).toEqual({ age: 45, sex: 'male', site: 'trunk' });
    expect(metadataFromColumns({ age: '', sex: 'unknown', localization: 'unknown' })).toEqual({});
    expect(metadataFromColumns({ age: '-3', sex: 'FEMALE', localization: 'Foot' })).toEqual({ sex: 'female', site: 'acral' });
    expect(siteGroup('ear')).toBe('head_neck');
    expect(siteGroup('somewhere')).toBeUndefined();
  });

  it('marks each missing field with its indicator and leaves its value slots at zero', () => {
    const full = encodeMetadata({ age: 50, sex: 'female', site: 'genital' });
    expect(full.length).toBe(METADATA_WIDTH);
    expect(Array.from(full)).toEqual([0.5, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0]);
    const none = encodeMetadata({});
    expect(Array.from(none)).toEqual([0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('hides fields not observed in training, so untrained weights never see a value', () => {
    const allowed = observedFields([{ sex: 'male' }, {}]);
    expect([...allowed]).toEqual(['sex']);
    const m = metadataMatrix([{ age: 80, sex: 'female', site: 'trunk' }], allowed);
    expect(Array.from(m)).toEqual(Array.from(encodeMetadata({ sex: 'female' })));
  });

  it('drops metadata at the requested rates, reproducibly', () => {
    const records = Array.from({ length: 4000 }, () => ({ age: 40, sex: 'male' as const, site: 'trunk' as const }));
    const a = metadataDropout(records, 0.3, 0.2, 9);
    expect(metadataDropout(records, 0.3, 0.2, 9)).toEqual(a);
    const empty = a.filter((m) => Object.keys(m).length === 0).length / records.length;
    // P(all gone) = 0.3 + 0.7 * 0.2^3
    expect(empty).toBeGreaterThan(0.27);
    expect(empty).toBeLessThan(0.34);
    const noAge = a.filter((m) => m.age === undefined).length / records.length;
    expect(noAge).toBeGreaterThan(0.41); // 0.3 + 0.7 * 0.2 = 0.44
    expect(noAge).toBeLessThan(0.47);
    expect(metadataDropout(records, 0, 0, 1)).toEqual(records);
  });
});

describe('feature assembly', () => {
  const fake = (rows: Record<string, number[]>): BlockReader => ({
    read(_view, keys, segments) {
      const width = segments.length * 2;
      const matrix = new Float32Array(keys.length * width);
      const missing: number[] = [];
      keys.forEach((k, i) => (rows[k] ? matrix.set(rows[k]!.slice(0, width), i * width) : missing.push(i)));
      return { matrix, width, missing };
    },
  });

  it('fills rows the primary store lacks from the fallback, and reports rows neither has', () => {
    const r = new FallbackReader(fake({ a: [1, 2], c: [5, 6] }), fake({ b: [3, 4], c: [9, 9] }));
    const out = r.read('identity', ['a', 'b', 'c', 'd'], ['avg']);
    expect(Array.from(out.matrix)).toEqual([1, 2, 3, 4, 5, 6, 0, 0]);
    expect(out.missing).toEqual([3]);
  });

  it('concatenates blocks row by row and unions their missing rows', () => {
    const readers = { inception: fake({ a: [1, 2, 3, 4], b: [5, 6, 7, 8] }), mobilenet: fake({ a: [9, 9] }) };
    const m = readBlocks(
      [
        { kind: 'inception', layer: 'mixed6', pooling: 'avg+max' },
        { kind: 'mobilenet', pooling: 'avg', colorConstancy: 'none' },
      ],
      ['a', 'b'],
      'identity',
      (b) => readers[b.kind],
    );
    expect(m.width).toBe(6);
    expect(Array.from(m.x.subarray(0, 6))).toEqual([1, 2, 3, 4, 9, 9]);
    expect([...m.missing]).toEqual([1]);
  });

  it('stacks columns and selects rows', () => {
    const x = hstack(Float32Array.from([1, 2, 3, 4]), 2, Float32Array.from([7, 8]), 1);
    expect(Array.from(x)).toEqual([1, 2, 7, 3, 4, 8]);
    expect(Array.from(selectRows(x, 3, [1]))).toEqual([3, 4, 8]);
  });
});
