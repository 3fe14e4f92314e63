/** The renderer's pure helpers: routes and the numbers a clinician reads. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../electron/util/paths.ts';
import { percent, TIER_LABEL } from '../../renderer/src/lib/format.ts';
import { hrefOf, parseHash, type Route } from '../../renderer/src/lib/routes.ts';
import { colourise, INFERNO } from '../../renderer/src/lib/colormap.ts';
import { auditActionLabel, auditSummary, auditTarget } from '../../renderer/src/lib/audit-format.ts';
import { MAX_VISIBLE_NOTICES, NoticeQueue, withNotice } from '../../renderer/src/lib/notice-queue.ts';

describe('routes', () => {
  it('round-trips every screen through its hash', () => {
    const routes: Route[] = [{ name: 'patients' }, { name: 'settings' }, { name: 'results' }, { name: 'audit' }, { name: 'model' }, { name: 'patient', id: 3 }, { name: 'visit', id: 14 }, { name: 'image', id: 15 }, { name: 'lesion', id: 9 }];
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

describe('colour contrast of the stylesheet (WCAG 2.x)', () => {
  const css = readFileSync(join(projectRoot, 'renderer', 'src', 'app.css'), 'utf8');
  const colour = (name: string): string => {
    const m = new RegExp(`--${name}:\\s*(#[0-9a-f]{6})`, 'i').exec(css);
    if (!m) throw new Error(`--${name} not found in app.css`);
    return m[1]!;
  };
  const luminance = (hex: string): number => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const ratio = (a: string, b: string): number => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi! + 0.05) / (lo! + 0.05);
  };

  it.each([
    ['text', 'bg'],
    ['text', 'surface'],
    ['muted', 'bg'],
    ['muted', 'surface'],
    ['accent', 'surface'],
    ['danger', 'surface'],
    ['low-fg', 'low-bg'],
    ['review-fg', 'review-bg'],
    ['high-fg', 'high-bg'],
  ])('%s on %s is at least 4.5:1', (fg, bg) => {
    expect(ratio(colour(fg), colour(bg))).toBeGreaterThanOrEqual(4.5);
  });

  it('white text on the accent (primary buttons) is at least 4.5:1', () => {
    expect(ratio('#ffffff', colour('accent'))).toBeGreaterThanOrEqual(4.5);
  });
});

describe('notice queue', () => {
  /** A fake clock: the queue's timers fire only when the test advances time. */
  function fakeTimers() {
    let now = 0;
    const pending = new Map<number, { at: number; cb: () => void }>();
    let next = 1;
    return {
      timers: {
        set: (cb: () => void, ms: number) => {
          pending.set(next, { at: now + ms, cb });
          return next++;
        },
        clear: (h: unknown) => void pending.delete(h as number),
      },
      advance(ms: number) {
        now += ms;
        for (const [h, t] of [...pending]) {
          if (t.at > now) continue;
          pending.delete(h);
          t.cb();
        }
      },
      pendingCount: () => pending.size,
    };
  }

  it('dismisses info and success after the delay, and keeps errors until dismissed', () => {
    const clock = fakeTimers();
    const queue = new NoticeQueue(() => undefined, clock.timers, 5_000);
    queue.push('info', 'saved');
    queue.push('success', 'exported');
    const error = queue.push('error', 'failed');
    clock.advance(4_999);
    expect(queue.items.map((n) => n.text)).toEqual(['saved', 'exported', 'failed']);
    clock.advance(1);
    expect(queue.items.map((n) => n.text)).toEqual(['failed']);
    clock.advance(60_000);
    expect(queue.items.map((n) => n.text)).toEqual(['failed']);
    queue.dismiss(error);
    expect(queue.items).toEqual([]);
  });

  it('shows at most three, dropping the oldest info before any error', () => {
    const clock = fakeTimers();
    const queue = new NoticeQueue(() => undefined, clock.timers);
    queue.push('error', 'e1');
    queue.push('info', 'i1');
    queue.push('info', 'i2');
    queue.push('success', 's1');
    expect(queue.items.map((n) => n.text)).toEqual(['e1', 'i2', 's1']);
    queue.push('error', 'e2');
    queue.push('error', 'e3');
    expect(queue.items.map((n) => n.text)).toEqual(['e1', 'e2', 'e3']);
    // Only errors left: the oldest error makes room, so the newest problem is always visible.
    queue.push('error', 'e4');
    expect(queue.items.map((n) => n.text)).toEqual(['e2', 'e3', 'e4']);
    // No timer outlives its notice.
    expect(clock.pendingCount()).toBe(0);
    expect(withNotice([], { id: 1, kind: 'info', text: 'x' }, 1)).toHaveLength(1);
  });

  it('keeps a notice while it is held (hover or focus) and restarts its delay on release', () => {
    const clock = fakeTimers();
    const seen: number[] = [];
    const queue = new NoticeQueue((items) => seen.push(items.length), clock.timers, 5_000);
    const id = queue.push('info', 'read me');
    clock.advance(4_000);
    queue.hold(id);
    clock.advance(10_000);
    expect(queue.items).toHaveLength(1);
    queue.release(id);
    clock.advance(4_999);
    expect(queue.items).toHaveLength(1);
    clock.advance(1);
    expect(queue.items).toHaveLength(0);
    expect(seen).toEqual([1, 0]);
    expect(MAX_VISIBLE_NOTICES).toBe(3);
  });
});

describe('audit entries as read on the audit screen', () => {
  const review = { action: 'review.create', entity: 'reviews', entityId: 4, detail: JSON.stringify({ imageId: 12, verdict: 'disagree', note: '', finalDiagnosis: null, p: 0.123456789, nested: { a: 1 } }) };

  it('names the action in words and links a review to its image', () => {
    expect(auditActionLabel(review)).toBe('Review created');
    expect(auditActionLabel({ action: 'batch_jobs.frobnicate', entity: 'batch_jobs' })).toBe('Batch frobnicate');
    expect(auditTarget(review)).toEqual({ label: 'Review #4', href: '#/images/12' });
    expect(auditTarget({ entity: 'patients', entityId: 3, detail: '{}' })).toEqual({ label: 'Patient #3', href: '#/patients/3' });
    expect(auditTarget({ entity: 'settings', entityId: null, detail: '{}' })).toEqual({ label: 'Settings', href: null });
    // A detail that is not a positive whole image id gives no link rather than a wrong one.
    expect(auditTarget({ entity: 'predictions', entityId: 1, detail: '{"imageId":"12"}' }).href).toBeNull();
    expect(auditTarget({ entity: 'predictions', entityId: 1, detail: 'not json' }).href).toBeNull();
  });

  it('summarises scalar fields on one line, rounding and cutting long values', () => {
    expect(auditSummary(review.detail)).toBe('imageId: 12 · verdict: disagree · p: 0.1235');
    expect(auditSummary(JSON.stringify({ sha256: 'a'.repeat(64) }))).toBe(`sha256: ${'a'.repeat(39)}…`);
    expect(auditSummary('[1,2]')).toBe('');
    expect(auditSummary(JSON.stringify(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]))), 50)).toHaveLength(50);
  });
});
