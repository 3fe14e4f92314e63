/** The renderer's pure helpers: routes and the numbers a clinician reads. */
import { describe, expect, it } from 'vitest';
import { percent, TIER_LABEL } from '../../renderer/src/lib/format.ts';
import { hrefOf, parseHash, type Route } from '../../renderer/src/lib/routes.ts';
import { colourise, INFERNO } from '../../renderer/src/lib/colormap.ts';

describe('routes', () => {
  it('round-trips every screen through its hash', () => {
    const routes: Route[] = [{ name: 'patients' }, { name: 'settings' }, { name: 'patient', id: 3 }, { name: 'visit', id: 14 }, { name: 'image', id: 15 }, { name: 'lesion', id: 9 }];
    for (const route of routes) expect(parseHash(hrefOf(route))).toEqual(route);
  });

  it('falls back to the patient list for anything else', () => {
    for (const hash of ['', '#', '#/', '#/images/', '#/images/abc', '#/images/1/2', '#/unknown/3', '#/patients/-1']) expect(parseHash(hash)).toEqual({ name: 'patients' });
  });
});

describe('percent', () => {
  it('never rounds a value up across a tier cut-off', () => {
    expect(percent(0.5999)).toBe('59%');
    expect(percent(0.6)).toBe('60%');
    expect(percent(0.82949, 1)).toBe('82.9%');
    expect(percent(0.07)).toBe('7%');
    expect(percent(1)).toBe('100%');
    expect(percent(0)).toBe('0%');
  });

  it('labels every tier in words, not colour alone', () => {
    expect(Object.values(TIER_LABEL)).toEqual(['Low risk', 'Review', 'High risk']);
  });
});

describe('heatmap colouring', () => {
  it('maps grey to inferno with alpha equal to saliency', () => {
    const px = new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255]);
    colourise(px);
    expect([...px.slice(0, 4)]).toEqual([0, 0, 4, 0]);
    expect([...px.slice(4, 8)]).toEqual([252, 255, 164, 255]);
    expect(px[11]).toBe(128);
    expect(INFERNO.length).toBe(768);
  });
});
