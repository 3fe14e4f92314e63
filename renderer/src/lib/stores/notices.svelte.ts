/** Short-lived messages (saved, exported, failed) announced to screen readers via a live region. */
export interface Notice {
  id: number;
  kind: 'info' | 'error';
  text: string;
}

class Notices {
  items = $state<Notice[]>([]);
  #next = 1;

  push(kind: Notice['kind'], text: string, ttlMs = kind === 'error' ? 10_000 : 3_000): void {
    const id = this.#next++;
    this.items.push({ id, kind, text });
    setTimeout(() => this.dismiss(id), ttlMs);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((n) => n.id !== id);
  }
}

export const notices = new Notices();
