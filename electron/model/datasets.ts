/**
 * Labelled image folders: a folder with `labels.csv` whose `path` column is relative to the
 * folder and whose `label` is benign / malignant (melanoma) / anything else (kept, but not
 * scored as melanoma-vs-benign). Extra columns are kept verbatim for the data protocol.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type BinaryLabel = 'benign' | 'malignant';

export interface LabelledRow {
  /** Absolute path of the image. */
  readonly file: string;
  /** `path` as written in labels.csv. */
  readonly path: string;
  readonly label: string;
  readonly split?: string;
  /** Every column of the row, by header name. */
  readonly columns: Readonly<Record<string, string>>;
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Reads `<folder>/labels.csv`; rows whose `split` differs from `split` (when given) are left out. */
export function readLabelledFolder(folder: string, split?: string): LabelledRow[] {
  const csv = join(folder, 'labels.csv');
  if (!existsSync(csv)) throw new DatasetError(`${folder} has no labels.csv (expected columns path,label[,split])`);
  const [header, ...rows] = parseCsv(readFileSync(csv, 'utf8').replace(/^\uFEFF/, ''));
  if (!header) throw new DatasetError(`${csv} is empty`);
  const names = header.map((h) => h.trim());
  const pathAt = names.indexOf('path');
  const labelAt = names.indexOf('label');
  if (pathAt < 0 || labelAt < 0) throw new DatasetError(`${csv} must have 'path' and 'label' columns (found: ${names.join(', ')})`);
  const out: LabelledRow[] = [];
  for (const cells of rows) {
    const columns: Record<string, string> = {};
    names.forEach((name, i) => (columns[name] = (cells[i] ?? '').trim()));
    const rowSplit = columns.split || undefined;
    if (split !== undefined && rowSplit !== split) continue;
    out.push({ file: resolve(folder, columns.path!), path: columns.path!, label: columns.label!.toLowerCase(), split: rowSplit, columns });
  }
  return out;
}

/** 1 for melanoma, 0 for benign, undefined for any other label (skipped and counted by callers). */
export function binaryTarget(label: string): 0 | 1 | undefined {
  if (label === 'malignant') return 1;
  if (label === 'benign') return 0;
  return undefined;
}
