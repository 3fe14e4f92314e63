import type { BatchProgress } from '#common/domain';

/**
 * Rate and ETA over this run only (resumed items done earlier do not inflate the rate), with an
 * exponential moving average so one slow image does not make the ETA jump.
 */
export class ProgressMeter {
  private readonly started = performance.now();
  private settledThisRun = 0;
  private emaSecPerItem: number | null = null;
  private last = performance.now();

  constructor(
    private readonly jobId: number,
    private counts: { done: number; failed: number; total: number },
  ) {}

  settle(counts: { done: number; failed: number; total: number }): void {
    const now = performance.now();
    const newly = counts.done + counts.failed - (this.counts.done + this.counts.failed);
    if (newly > 0) {
      const perItem = (now - this.last) / 1000 / newly;
      this.emaSecPerItem = this.emaSecPerItem === null ? perItem : 0.8 * this.emaSecPerItem + 0.2 * perItem;
      this.settledThisRun += newly;
      this.last = now;
    }
    this.counts = counts;
  }

  setTotal(total: number): void {
    this.counts = { ...this.counts, total };
  }

  snapshot(current: string | null): BatchProgress {
    const elapsed = (performance.now() - this.started) / 1000;
    const ratePerSec = elapsed > 0 ? this.settledThisRun / elapsed : 0;
    const remaining = Math.max(0, this.counts.total - this.counts.done - this.counts.failed);
    const etaSec = remaining === 0 ? 0 : this.emaSecPerItem === null ? null : remaining * this.emaSecPerItem;
    return { jobId: this.jobId, ...this.counts, ratePerSec, etaSec, current };
  }
}
