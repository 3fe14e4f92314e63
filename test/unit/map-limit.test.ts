import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../electron/util/map-limit.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('mapLimit', () => {
  it('keeps results in input order with at most `limit` calls in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x, i) => {
      peak = Math.max(peak, ++inFlight);
      for (let k = 0; k < x; k++) await tick();
      inFlight--;
      return `${i}:${x}`;
    });
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3']);
    expect(peak).toBe(2);
  });

  it('takes no new item once the signal aborts; items in flight finish', async () => {
    const controller = new AbortController();
    const started: number[] = [];
    await mapLimit([0, 1, 2, 3, 4, 5], 2, async (x) => {
      started.push(x);
      if (x === 1) controller.abort();
      await tick();
    }, controller.signal);
    expect(started).toEqual([0, 1]);
  });
});
