/** Short-lived messages (saved, exported, failed) announced to screen readers via a live region. */
import { NoticeQueue, type Notice, type NoticeKind } from '../notice-queue.ts';

export type { Notice, NoticeKind };

class Notices {
  items = $state<Notice[]>([]);
  readonly #queue = new NoticeQueue((items) => (this.items = items));

  push(kind: NoticeKind, text: string): void {
    this.#queue.push(kind, text);
  }

  dismiss(id: number): void {
    this.#queue.dismiss(id);
  }

  hold(id: number): void {
    this.#queue.hold(id);
  }

  release(id: number): void {
    this.#queue.release(id);
  }
}

export const notices = new Notices();
