/**
 * Multi-script text layout for reports. pdfkit wraps text in one font and does not reorder
 * right-to-left runs, so user text (names, notes, file names) goes through here instead: each
 * character gets a font that has its glyph, lines are broken to a width (long words are split
 * rather than allowed to overflow), and each line is put in visual order with the Unicode bidi
 * algorithm. fontkit, under pdfkit, then shapes each Arabic word.
 */
import bidiModule, { type Bidi } from 'bidi-js';
import type { FontSet, FontWeight } from './fonts.ts';

// bidi-js ships UMD: under Node's ESM loader its default import is the factory itself, while its
// typings describe an ES module whose default export is the factory.
const bidi = (bidiModule as unknown as () => Bidi)();

export interface TextStyle {
  readonly size: number;
  readonly weight?: FontWeight;
  readonly color?: string;
  /** Line advance as a multiple of the font size. */
  readonly leading?: number;
}

interface Piece {
  readonly text: string;
  readonly fontKey: string;
  readonly x: number;
  readonly ascender: number;
}

export interface TextLine {
  readonly pieces: readonly Piece[];
  readonly width: number;
}

export interface TextBlock {
  readonly lines: readonly TextLine[];
  readonly lineHeight: number;
  readonly height: number;
  /** Widest line. */
  readonly width: number;
  readonly style: Required<TextStyle>;
}

const DEFAULT_LEADING = 1.3;
/** Where the baseline sits below the top of a line box, in ems. */
const BASELINE = 1.0;

/**
 * What a user typed is printed as typed, but characters that would hide or reorder text are
 * dropped: control characters, and format characters such as bidi overrides (a right-to-left
 * override could make a name read differently from what was stored). ZWJ/ZWNJ stay: Persian and
 * Arabic words need them. Isolates stay too: they only confine direction (see isolate()).
 */
export function sanitizeText(input: string): string {
  return input
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .normalize('NFC')
    .replace(/\r\n?|[\u2028\u2029\u0085]/g, '\n')
    .replace(/\t/g, ' ')
    .replace(/[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/g, '')
    .replace(/(?![\u200C\u200D\u2066-\u2069])\p{Cf}/gu, '');
}

const ISOLATES = /[\u2066-\u2069]/g;
const ISOLATE_MARK = /^[\u2066-\u2069]$/;

/**
 * Marks user text inside a sentence of the report's own as a bidi isolate, so that its direction
 * cannot spill over: "(محمد, 2026-11-28)" would otherwise have the date pulled into the Arabic
 * run and printed reversed. Isolate marks the user typed are dropped first so they cannot
 * close ours early.
 */
export function isolate(userText: string): string {
  return `\u2068${userText.replace(ISOLATES, '')}\u2069`;
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303F\uFF00-\uFFEF]/u;
/** Break opportunities after these, so paths and hyphenated names wrap at natural points. */
const BREAK_AFTER = new Set(['-', '/', '\\', ',', ';', '|', '\u3001', '\u3002']);
const STRONG = new Set(['L', 'R', 'AL']);

interface Token {
  readonly start: number;
  readonly end: number;
  readonly space: boolean;
}

/** Lays text out once; the result can be measured and then drawn, on one page or split across pages. */
export class TextLayout {
  private readonly widths = new Map<string, number>();

  constructor(
    private readonly doc: PDFKit.PDFDocument,
    private readonly fonts: FontSet,
  ) {}

  layout(text: string, width: number, style: TextStyle, maxLines = Infinity): TextBlock {
    const full: Required<TextStyle> = {
      size: style.size,
      weight: style.weight ?? 'regular',
      color: style.color ?? '#000000',
      leading: style.leading ?? DEFAULT_LEADING,
    };
    const lines: TextLine[] = [];
    for (const paragraph of sanitizeText(text).split('\n')) {
      for (const line of this.layoutParagraph(paragraph, Math.max(width, full.size), full)) {
        lines.push(line);
      }
    }
    if (lines.length > maxLines) {
      lines.length = maxLines;
      const last = lines[maxLines - 1]!;
      lines[maxLines - 1] = this.withEllipsis(last, width, full);
    }
    const lineHeight = full.size * full.leading;
    return {
      lines,
      lineHeight,
      height: lines.length * lineHeight,
      width: lines.reduce((w, l) => Math.max(w, l.width), 0),
      style: full,
    };
  }

  /** Draws lines [from, to) of a block with the first line's top at y. */
  draw(block: TextBlock, x: number, y: number, from = 0, to = block.lines.length, align: 'left' | 'right' | 'center' = 'left', boxWidth = 0): void {
    const { size, color } = block.style;
    this.doc.fillColor(color);
    for (let i = from; i < to; i++) {
      const line = block.lines[i]!;
      const baseline = y + (i - from) * block.lineHeight + size * BASELINE;
      const shift = align === 'left' ? 0 : align === 'right' ? boxWidth - line.width : (boxWidth - line.width) / 2;
      for (const piece of line.pieces) {
        this.doc
          .font(piece.fontKey)
          .fontSize(size)
          .text(piece.text, x + shift + piece.x, baseline - (piece.ascender * size) / 1000, { lineBreak: false });
      }
    }
  }

  /** Width of a single-font string, cached: tables measure the same labels over and over. */
  measure(text: string, fontKey: string, size: number): number {
    const key = `${fontKey}\u0000${size}\u0000${text}`;
    let w = this.widths.get(key);
    if (w === undefined) {
      w = this.doc.font(fontKey).fontSize(size).widthOfString(text);
      this.widths.set(key, w);
    }
    return w;
  }

  private layoutParagraph(p: string, width: number, style: Required<TextStyle>): TextLine[] {
    if (p.length === 0) return [{ pieces: [], width: 0 }];
    const families = this.assignFamilies(p);
    const tokens = tokenize(p);
    const ranges: [number, number][] = [];
    let lineStart = -1;
    let lineEnd = -1;
    let used = 0;
    let pendingSpace = 0;
    const flush = () => {
      if (lineStart >= 0) ranges.push([lineStart, lineEnd]);
      lineStart = -1;
      used = 0;
      pendingSpace = 0;
    };
    for (const token of tokens) {
      const w = this.rangeWidth(p, families, token.start, token.end, style);
      if (token.space) {
        if (lineStart >= 0) pendingSpace += w;
        continue;
      }
      if (lineStart >= 0 && used + pendingSpace + w <= width) {
        used += pendingSpace + w;
        pendingSpace = 0;
        lineEnd = token.end;
        continue;
      }
      if (lineStart >= 0) flush();
      if (w <= width) {
        lineStart = token.start;
        lineEnd = token.end;
        used = w;
        continue;
      }
      // A word wider than the line (a long path, a pasted hash): split it where it must.
      let start = token.start;
      while (start < token.end) {
        let end = start;
        let acc = 0;
        while (end < token.end) {
          let next = nextCodePointEnd(p, end);
          // Never separate a combining mark (a Thai vowel, an accent) from its base letter.
          while (next < token.end && COMBINING.test(String.fromCodePoint(p.codePointAt(next)!))) next = nextCodePointEnd(p, next);
          const cw = this.rangeWidth(p, families, end, next, style);
          if (acc + cw > width && end > start) break;
          acc += cw;
          end = next;
        }
        if (end < token.end) {
          ranges.push([start, end]);
        } else {
          lineStart = start;
          lineEnd = end;
          used = acc;
        }
        start = end;
      }
    }
    flush();
    if (ranges.length === 0) return [{ pieces: [], width: 0 }];
    const levels = bidi.getEmbeddingLevels(p, 'auto');
    return ranges.map(([s, e]) => this.visualLine(p, families, levels, s, e, style));
  }

  /** Font family per UTF-16 index. Neutral characters stay in their neighbour's font when it has them. */
  private assignFamilies(p: string): Int8Array {
    const families = new Int8Array(p.length);
    let previous = -1;
    for (let i = 0; i < p.length; ) {
      const cp = p.codePointAt(i)!;
      const units = cp > 0xffff ? 2 : 1;
      const strong = STRONG.has(bidi.getBidiCharTypeName(String.fromCodePoint(cp)));
      let family: number;
      if (!strong && previous >= 0 && this.fonts.face(previous, 'regular').has(cp)) family = previous;
      else family = this.fonts.familyFor(cp);
      if (family < 0) family = previous >= 0 ? previous : 0; // no font has it: .notdef box, in context
      families.fill(family, i, i + units);
      previous = family;
      i += units;
    }
    return families;
  }

  private rangeWidth(p: string, families: Int8Array, start: number, end: number, style: Required<TextStyle>): number {
    let w = 0;
    let runStart = start;
    for (let i = start + 1; i <= end; i++) {
      if (i === end || families[i] !== families[runStart]) {
        const face = this.fonts.face(families[runStart]!, style.weight);
        w += this.measure(p.slice(runStart, i).replace(ISOLATES, ''), face.key, style.size);
        runStart = i;
      }
    }
    return w;
  }

  private visualLine(
    p: string,
    families: Int8Array,
    levels: ReturnType<typeof bidi.getEmbeddingLevels>,
    start: number,
    end: number,
    style: Required<TextStyle>,
  ): TextLine {
    const order = bidi.getReorderedIndices(p, levels, start, end - 1).slice(start, end);
    // Visual sequence of whole code points, each with its level and font.
    const chars: { ch: string; level: number; family: number; space: boolean }[] = [];
    for (const i of order) {
      const unit = p.charCodeAt(i);
      if (unit >= 0xdc00 && unit <= 0xdfff && i > 0 && isHigh(p.charCodeAt(i - 1))) continue;
      const ch = isHigh(unit) ? p.slice(i, i + 2) : p[i]!;
      if (ISOLATE_MARK.test(ch)) continue; // they order text, they are not printed
      chars.push({ ch, level: levels.levels[i]!, family: families[i]!, space: /\s/u.test(ch) });
    }
    const pieces: Piece[] = [];
    let x = 0;
    let k = 0;
    while (k < chars.length) {
      const first = chars[k]!;
      let j = k + 1;
      while (
        j < chars.length &&
        chars[j]!.family === first.family &&
        chars[j]!.level % 2 === first.level % 2 &&
        chars[j]!.space === first.space
      ) {
        j++;
      }
      const run = chars.slice(k, j);
      const face = this.fonts.face(first.family, style.weight);
      // Visual order, with brackets mirrored inside right-to-left runs (fontkit does not mirror).
      const visualChars = run.map((c) => (c.level % 2 === 1 ? (bidi.getMirroredCharacter(c.ch) ?? c.ch) : c.ch));
      // fontkit reverses any run whose first script is right-to-left (Arabic letters, but also
      // Arabic-Indic digits in a left-to-right run) while shaping: give it those in reverse.
      const text = shaperReverses(visualChars) ? visualChars.reverse().join('') : visualChars.join('');
      const w = this.measure(text, face.key, style.size);
      if (!first.space) pieces.push({ text, fontKey: face.key, x, ascender: face.ascender });
      x += w;
      k = j;
    }
    return { pieces, width: x };
  }

  private withEllipsis(line: TextLine, width: number, style: Required<TextStyle>): TextLine {
    const face = this.fonts.face(0, style.weight);
    const ell = '\u2026';
    const ellW = this.measure(ell, face.key, style.size);
    const pieces = [...line.pieces];
    let w = line.width;
    while (pieces.length > 0 && w + ellW > width) {
      const last = pieces.pop()!;
      w = last.x;
    }
    pieces.push({ text: ell, fontKey: face.key, x: w, ascender: face.ascender });
    return { pieces, width: w + ellW };
  }
}

const SCRIPTLESS = /^[\p{Script=Common}\p{Script=Inherited}]$/u;
const RTL_SCRIPT = /^[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}\p{Script=Hanifi_Rohingya}]$/u;

/** Mirrors fontkit's choice of direction: the first character with a script decides. */
function shaperReverses(chars: readonly string[]): boolean {
  const first = chars.find((c) => !SCRIPTLESS.test(c));
  return first !== undefined && RTL_SCRIPT.test(first);
}

function isHigh(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function nextCodePointEnd(s: string, i: number): number {
  return isHigh(s.charCodeAt(i)) && i + 1 < s.length ? i + 2 : i + 1;
}

const COMBINING = /^[\p{M}\u200C\u200D]$/u;
/** Scripts written without spaces between words: ICU's dictionary finds where lines may break. */
const NO_SPACES = /[\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;

function dictionaryBreaks(p: string): Set<number> {
  const breaks = new Set<number>();
  if (!NO_SPACES.test(p)) return breaks;
  for (const seg of new Intl.Segmenter(undefined, { granularity: 'word' }).segment(p)) {
    const before = p[seg.index - 1] ?? '';
    if (seg.index > 0 && (NO_SPACES.test(before) || NO_SPACES.test(p[seg.index]!))) breaks.add(seg.index);
  }
  return breaks;
}

/**
 * Words and spaces. CJK characters are words of their own, since lines may break between them;
 * Thai and its neighbours break at dictionary word boundaries.
 */
function tokenize(p: string): Token[] {
  const breaks = dictionaryBreaks(p);
  const tokens: Token[] = [];
  let start = 0;
  let inSpace = false;
  const push = (end: number) => {
    if (end > start) tokens.push({ start, end, space: inSpace });
    start = end;
  };
  for (let i = 0; i < p.length; ) {
    const next = nextCodePointEnd(p, i);
    const ch = p.slice(i, next);
    const space = /\s/u.test(ch);
    if (space !== inSpace) {
      push(i);
      inSpace = space;
    } else if (breaks.has(i)) {
      push(i);
    }
    if (!space && CJK.test(ch)) {
      push(i);
      push(next);
    } else if (!space && BREAK_AFTER.has(ch)) {
      push(next);
    }
    i = next;
  }
  push(p.length);
  return tokens;
}
