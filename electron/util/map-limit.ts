/**
 * Runs `fn` over `items` with at most `limit` calls in flight, in order of index; stops taking new
 * items once `signal` aborts (those in flight finish). The one worker pool of the app: batches,
 * the classify command and report image preparation all bound their concurrency with it.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!signal?.aborted && next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
