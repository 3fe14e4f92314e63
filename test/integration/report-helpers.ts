/**
 * Reading PDFs back with poppler-utils (pdfinfo, pdftotext, pdftoppm, pdffonts, pdfimages), the
 * way a person's viewer would, for the report tests. Page images go to test-output/report/ so
 * they can be looked at after a run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, sharedDir } from '../../electron/util/paths.ts';

export const hasPoppler = ['pdftoppm', 'pdftotext', 'pdfinfo', 'pdffonts', 'pdfimages'].every(
  (tool) => spawnSync(tool, ['-v'], { stdio: 'ignore' }).error === undefined,
);
export const POPPLER_MISSING = 'poppler-utils (pdftoppm, pdftotext, pdfinfo, pdffonts, pdfimages) is not installed: apt-get install poppler-utils';

export const FIXTURES = sharedDir('data', 'fixtures');
export const hasFixtures = existsSync(join(FIXTURES, 'labels.csv'));
export const FIXTURES_MISSING = `shared fixtures absent (${FIXTURES}): the report tests print real dermoscopy images`;

/** Suites that print fixture images into PDFs and read them back need both. */
export const canRenderFixtures = hasPoppler && hasFixtures;
/** Appended to such a suite's title, so a skipped run says why ('' when nothing is missing). */
export const fixtureSkipReason = !hasPoppler ? ` (skipped: ${POPPLER_MISSING})` : !hasFixtures ? ` (skipped: ${FIXTURES_MISSING})` : '';

/** Fixture image paths listed in labels.csv, benign and malignant interleaved. */
export function fixtureFiles(n: number): string[] {
  const [head, ...rows] = readFileSync(join(FIXTURES, 'labels.csv'), 'utf8').trim().split('\n');
  const col = head!.split(',').indexOf('path');
  const all = rows.map((r) => join(FIXTURES, r.split(',')[col]!));
  const benign = all.filter((f) => f.includes('/benign/'));
  const malignant = all.filter((f) => !f.includes('/benign/'));
  const out: string[] = [];
  for (let i = 0; out.length < n && (i < benign.length || i < malignant.length); i++) {
    if (i < malignant.length) out.push(malignant[i]!);
    if (out.length < n && i < benign.length) out.push(benign[i]!);
  }
  return out;
}

export function outputDir(name: string): string {
  const dir = join(projectRoot, 'test-output', 'report', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface PdfReadback {
  readonly file: string;
  readonly pages: number;
  /** pdftotext, reading order. */
  readonly text: string;
  /** pdftotext -layout: rows of a table stay on one line, top to bottom. */
  readonly layout: string;
  /** One PNG per page, as pdftoppm rendered them. */
  readonly pngs: string[];
}

/** Writes the PDF, renders every page to PNG and extracts its text. */
export function readBack(pdf: Buffer, dir: string, name: string, dpi = 50): PdfReadback {
  const file = join(dir, `${name}.pdf`);
  writeFileSync(file, pdf);
  const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
  const pages = Number(/^Pages:\s+(\d+)/m.exec(info)?.[1]);
  const text = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const layout = execFileSync('pdftotext', ['-enc', 'UTF-8', '-layout', file, '-'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  execFileSync('pdftoppm', ['-png', '-r', String(dpi), file, join(dir, name)]);
  const pngs = readdirSync(dir)
    .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.png'))
    .sort()
    .map((f) => join(dir, f));
  return { file, pages, text, layout, pngs };
}

export interface FontRow {
  readonly name: string;
  readonly embedded: boolean;
}

export function fontsOf(file: string): FontRow[] {
  const out = execFileSync('pdffonts', [file], { encoding: 'utf8' }).trim().split('\n').slice(2);
  // name type encoding emb sub uni object ID: "emb" is the 4th column from the right end of flags.
  return out.map((line) => {
    const cols = line.trim().split(/\s+/);
    return { name: cols[0]!, embedded: cols[cols.length - 5] === 'yes' };
  });
}

export interface ImageRow {
  readonly width: number;
  readonly height: number;
  readonly xPpi: number;
  readonly yPpi: number;
}

/** Every image drawn, with its pixel size and the resolution it is printed at in x and y. */
export function imagesOf(file: string): ImageRow[] {
  const out = execFileSync('pdfimages', ['-list', file], { encoding: 'utf8' }).trim().split('\n').slice(2);
  return out.map((line) => {
    const c = line.trim().split(/\s+/);
    return { width: Number(c[3]), height: Number(c[4]), xPpi: Number(c[12]), yPpi: Number(c[13]) };
  });
}

export interface WordBox {
  readonly word: string;
  readonly page: number;
  readonly xMin: number;
  readonly xMax: number;
  readonly yMin: number;
  readonly yMax: number;
}

/** Word boxes in points (pdftotext -bbox), to check that nothing is printed outside the margins. */
export function wordBoxes(file: string): { pageWidth: number; pageHeight: number; words: WordBox[] } {
  const html = execFileSync('pdftotext', ['-bbox', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const words: WordBox[] = [];
  let pageWidth = 0;
  let pageHeight = 0;
  let page = 0;
  const re = /<page width="([\d.]+)" height="([\d.]+)">|<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g;
  for (let m = re.exec(html); m; m = re.exec(html)) {
    if (m[1]) {
      pageWidth = Number(m[1]);
      pageHeight = Number(m[2]);
      page++;
      continue;
    }
    words.push({ word: m[7]!, page, xMin: Number(m[3]), yMin: Number(m[4]), xMax: Number(m[5]), yMax: Number(m[6]) });
  }
  return { pageWidth, pageHeight, words };
}

/** Text with all whitespace removed, so wrapped phrases can be found whole. */
export function squash(s: string): string {
  return s.replace(/\s+/g, '');
}
