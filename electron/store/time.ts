/** Timestamps are ISO-8601 UTC strings: they sort as text and survive JSON unchanged. */
export function nowIso(): string {
  return new Date().toISOString();
}
