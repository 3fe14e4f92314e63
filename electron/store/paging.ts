export interface PageQuery {
  /** 1-based. */
  readonly page?: number;
  readonly pageSize?: number;
}

export interface Page<T> {
  readonly items: T[];
  readonly total: number;
  readonly page: number;
  readonly pageSize: number;
}

export const MAX_PAGE_SIZE = 500;

export function pageBounds(q: PageQuery): { limit: number; offset: number; page: number; pageSize: number } {
  const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(q.pageSize ?? 50)));
  const page = Math.max(1, Math.floor(q.page ?? 1));
  return { limit: pageSize, offset: (page - 1) * pageSize, page, pageSize };
}

/** LIKE pattern matching `text` literally anywhere: the user's % and _ are data, not wildcards. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Folds case and accents the way people type a search ("zolc" for "Żółć", "MULLER" for "Müller"):
 * SQLite's LIKE only folds ASCII, so the folded text is stored beside the original.
 */
export function searchKey(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/ł/g, 'l')
    .replace(/Ł/g, 'L')
    .replace(/ø/g, 'o')
    .replace(/Ø/g, 'O')
    .replace(/ß/g, 'ss')
    .toLowerCase();
}
