/**
 * The fonts a report embeds, and which one sets a given character. Patient names and notes arrive
 * in any script, and PDF viewers cannot be trusted to have fonts for them, so every glyph drawn
 * comes from a font shipped in resources/fonts (see its README for licences).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fontkit from 'fontkit';
import { projectRoot } from '../util/paths.ts';

export type FontWeight = 'regular' | 'bold';

interface FontFace {
  /** Name registered with pdfkit. */
  readonly key: string;
  readonly file: string;
}

interface FontFamily {
  readonly regular: FontFace;
  readonly bold: FontFace;
}

/**
 * Tried in order for each character: the first family whose regular face has a glyph sets it.
 * Latin first because the report's own labels are Latin and Noto Sans has the best metrics for them.
 */
const FAMILIES: readonly FontFamily[] = [
  {
    regular: { key: 'noto', file: 'NotoSans-Regular.ttf' },
    bold: { key: 'noto-bold', file: 'NotoSans-Bold.ttf' },
  },
  {
    regular: { key: 'noto-arabic', file: 'NotoSansArabic-Regular.ttf' },
    bold: { key: 'noto-arabic-bold', file: 'NotoSansArabic-Bold.ttf' },
  },
  {
    regular: { key: 'noto-hebrew', file: 'NotoSansHebrew-Regular.ttf' },
    bold: { key: 'noto-hebrew-bold', file: 'NotoSansHebrew-Bold.ttf' },
  },
  {
    regular: { key: 'noto-thai', file: 'NotoSansThai-Regular.ttf' },
    bold: { key: 'noto-thai-bold', file: 'NotoSansThai-Bold.ttf' },
  },
  {
    regular: { key: 'noto-devanagari', file: 'NotoSansDevanagari-Regular.ttf' },
    bold: { key: 'noto-devanagari-bold', file: 'NotoSansDevanagari-Bold.ttf' },
  },
  {
    regular: { key: 'noto-armenian', file: 'NotoSansArmenian-Regular.ttf' },
    bold: { key: 'noto-armenian-bold', file: 'NotoSansArmenian-Bold.ttf' },
  },
  {
    regular: { key: 'noto-georgian', file: 'NotoSansGeorgian-Regular.ttf' },
    bold: { key: 'noto-georgian-bold', file: 'NotoSansGeorgian-Bold.ttf' },
  },
  // Droid Sans Fallback has a single weight; bold CJK is set in the regular face.
  {
    regular: { key: 'droid-fallback', file: 'DroidSansFallbackFull.ttf' },
    bold: { key: 'droid-fallback', file: 'DroidSansFallbackFull.ttf' },
  },
];

export function defaultFontsDir(): string {
  return process.env.DERMAFUSE_FONTS ?? join(projectRoot, 'resources', 'fonts');
}

export interface LoadedFont {
  readonly key: string;
  readonly bytes: Buffer;
  /** Ascent in pdfkit's 1/1000 em units, as pdfkit uses it to place the baseline. */
  readonly ascender: number;
  readonly has: (codePoint: number) => boolean;
}

export interface FontSet {
  readonly dir: string;
  /** Every face, keyed by pdfkit name. */
  readonly faces: ReadonlyMap<string, LoadedFont>;
  /** Family index (into the fallback chain) whose font covers this code point, or -1. */
  familyFor(codePoint: number): number;
  face(family: number, weight: FontWeight): LoadedFont;
}

const cache = new Map<string, FontSet>();

/** Reads the font files once per process; each document then embeds subsets of them. */
export function loadFonts(dir: string = defaultFontsDir()): FontSet {
  const cached = cache.get(dir);
  if (cached) return cached;
  const faces = new Map<string, LoadedFont>();
  for (const family of FAMILIES) {
    for (const face of [family.regular, family.bold]) {
      if (faces.has(face.key)) continue;
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(dir, face.file));
      } catch {
        throw new Error(`Report font ${face.file} is missing from ${dir}; reinstall dermafuse or set DERMAFUSE_FONTS.`);
      }
      const font = fontkit.create(bytes) as fontkit.Font;
      faces.set(face.key, {
        key: face.key,
        bytes,
        ascender: (font.ascent / font.unitsPerEm) * 1000,
        has: (cp) => font.hasGlyphForCodePoint(cp),
      });
    }
  }
  const coverage = new Map<number, number>();
  const set: FontSet = {
    dir,
    faces,
    familyFor(cp) {
      let family = coverage.get(cp);
      if (family === undefined) {
        family = FAMILIES.findIndex((f) => faces.get(f.regular.key)!.has(cp));
        coverage.set(cp, family);
      }
      return family;
    },
    face(family, weight) {
      const f = FAMILIES[family] ?? FAMILIES[0]!;
      return faces.get(f[weight].key)!;
    },
  };
  cache.set(dir, set);
  return set;
}

/** Registers every face with a document so text runs can switch fonts by key. */
export function registerFonts(doc: PDFKit.PDFDocument, fonts: FontSet): void {
  for (const face of fonts.faces.values()) doc.registerFont(face.key, face.bytes);
}
