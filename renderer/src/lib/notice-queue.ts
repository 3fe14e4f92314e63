/**
 * The rules of the notices (toasts), kept free of Svelte and the DOM so they can be unit-tested:
 * info and success notices leave by themselves, errors wait for the clinician, and only a few
 * are shown at once so they never cover the screen they are about.
 */
export type NoticeKind = 'info' | 'success' | 'error';

export interface Notice {
  id: number;
  kind: NoticeKind;
  text: string;
}

export const MAX_VISIBLE_NOTICES = 3;
export const AUTO_DISMISS_MS = 5_000;

/** Timers are injected so tests can drive time; the app passes the browser's. */
export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** An error is what the clinician must act on, so it is never dropped while an info one can go instead. */
export function withNotice(items: readonly Notice[], notice: Notice, max = MAX_VISIBLE_NOTICES): Notice[] {
  const next = [...items, notice];
  while (next.length > max) {
    const oldestInfo = next.findIndex((n) => n.kind !== 'error');
    next.splice(oldestInfo === -1 ? 0 : oldestInfo, 1);
  }
  return next;
}

export class NoticeQueue {
  #items: Notice[] = [];
  #next = 1;
  readonly #timers = new Map<number, unknown>();

  constructor(
    private readonly onChange: (items: Notice[]) => void,
    private readonly timers: Timers = { set: (cb, ms) => setTimeout(cb, ms), clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
    private readonly autoDismissMs = AUTO_DISMISS_MS,
  ) {}

  get items(): readonly Notice[] {
    return this.#items;
  }

  push(kind: NoticeKind, text: string): number {
    const id = this.#next++;
    this.#set(withNotice(this.#items, { id, kind, text }));
    if (kind !== 'error' && this.#items.some((n) => n.id === id)) this.#schedule(id);
    return id;
  }

  dismiss(id: number): void {
    this.#set(this.#items.filter((n) => n.id !== id));
  }

  /** While the pointer or focus is on a notice it stays, so it can be read to the end (WCAG 2.2.1). */
  hold(id: number): void {
    const handle = this.#timers.get(id);
    if (handle === undefined) return;
    this.timers.clear(handle);
    this.#timers.set(id, null);
  }

  release(id: number): void {
    if (this.#timers.get(id) === null) this.#schedule(id);
  }

  #schedule(id: number): void {
    this.#timers.set(id, this.timers.set(() => this.dismiss(id), this.autoDismissMs));
  }

  #set(items: Notice[]): void {
    const kept = new Set(items.map((n) => n.id));
    for (const [id, handle] of this.#timers) {
      if (kept.has(id)) continue;
      if (handle !== null) this.timers.clear(handle);
      this.#timers.delete(id);
    }
    this.#items = items;
    this.onChange(items);
  }
}
