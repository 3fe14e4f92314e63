import PDFDocument from 'pdfkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFonts, registerFonts } from '../../electron/report/fonts.ts';
import { seededRandom as mulberry32 } from '../../electron/util/random.ts';
import { TextLayout, isolate, sanitizeText, type TextBlock } from '../../electron/report/text.ts';

function visual(block: TextBlock): string[][] {
  return block.lines.map((l) => l.pieces.map((p) => p.text));
}

describe('report text layout (fonts per script, wrapping, bidi)', () => {
  let t: TextLayout;

  beforeAll(() => {
    const doc = new PDFDocument({ autoFirstPage: false });
    const fonts = loadFonts();
    registerFonts(doc, fonts);
    t = new TextLayout(doc, fonts);
  });

  it('drops characters that hide or reorder text and keeps the rest verbatim', () => {
    expect(sanitizeText('a\u202Eb\u202Cc')).toBe('abc');
    expect(sanitizeText('x\u0000y\u0007z')).toBe('xyz');
    expect(sanitizeText('line1\r\nline2\rline3')).toBe('line1\nline2\nline3');
    expect(sanitizeText('می\u200Cخواهم')).toBe('می\u200Cخواهم'); // ZWNJ is part of Persian spelling
    expect(sanitizeText('<b>%PDF ) ( \\')).toBe('<b>%PDF ) ( \\');
    expect(sanitizeText('bad \uD800 surrogate')).toBe('bad \uFFFD surrogate');
  });

  it('sets each script in a font that has it', () => {
    const b = t.layout('Łukasz 山田太郎 محمد', 500, { size: 10 });
    const fontOf = (s: string) => b.lines[0]!.pieces.find((p) => p.text === s)?.fontKey;
    expect(fontOf('Łukasz')).toBe('noto');
    expect(fontOf('山田太郎')).toBe('droid-fallback');
    expect(fontOf('محمد')).toBe('noto-arabic');
    expect(t.layout('محمد', 500, { size: 10, weight: 'bold' }).lines[0]!.pieces[0]!.fontKey).toBe('noto-arabic-bold');
  });

  it('puts right-to-left words in visual order, each handed to the shaper in logical order', () => {
    // Arabic paragraph: the first word read is the rightmost.
    expect(visual(t.layout('محمد علي', 500, { size: 10 }))).toEqual([['علي', 'محمد']]);
    // Numbers inside right-to-left text keep their own left-to-right order.
    expect(visual(t.layout('محمد 123', 500, { size: 10 }))).toEqual([['123', 'محمد']]);
  });

  it('hands fontkit every run in the order that comes out right after its own reversal', () => {
    // fontkit reverses any run whose first script is Arabic, digits included: Arabic-Indic digits
    // (left-to-right) must therefore go in reversed, to be drawn as ٢٠٢٦ and not ٦٢٠٢.
    expect(visual(t.layout('Year ٢٠٢٦', 500, { size: 10 }))).toEqual([['Year', '٦٢٠٢']]);
    // Brackets inside right-to-left text are mirrored, since fontkit does not mirror them.
    // (the closing bracket, logically last, is leftmost in this right-to-left line: mirrored, it reads "(")
    expect(visual(t.layout('(محمد)', 500, { size: 10 }))).toEqual([['(', 'محمد', ')']]);
    expect(visual(t.layout('Ali (علي)', 500, { size: 10 }))).toEqual([['Ali', '(', 'علي', ')']]);
  });

  it('keeps an isolated Arabic name from pulling the date after it into its run', () => {
    const text = `Disagrees (${isolate('محمد')}, 2026-11-28 08:00 UTC).`;
    expect(visual(t.layout(text, 500, { size: 10 }))[0]!.join('')).toBe('Disagrees(محمد,2026-11-2808:00UTC).');
  });

  it('never lets a line run wider than asked, whatever the text', () => {
    const alphabet = ['a', 'Ż', 'ó', ' ', ' ', '-', '/', '山', '田', 'ت', 'م', '1', '9', '(', ')', 'Ω', 'Ж', '\n', 'W', 'm'];
    const rnd = mulberry32(42);
    for (let n = 0; n < 60; n++) {
      const len = 1 + Math.floor(rnd() * 300);
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      if (n % 7 === 0) s += 'X'.repeat(200);
      const width = 20 + rnd() * 300;
      const b = t.layout(s, width, { size: 6 + rnd() * 10 });
      for (const line of b.lines) expect(line.width).toBeLessThanOrEqual(width + 0.01);
      // Nothing is lost: every printable character of the input appears in some piece (brackets
      // inside right-to-left runs are mirrored, so they are compared as one kind).
      const norm = (x: string) => [...x.replace(/\s/g, '').replace(/[()]/g, '(')].sort().join('');
      const printed = b.lines.flatMap((l) => l.pieces.map((p) => p.text)).join('');
      expect(norm(printed)).toBe(norm(sanitizeText(s)));
    }
  });

  it('breaks an unbroken 500-character word into lines that fit', () => {
    const b = t.layout('x'.repeat(500), 100, { size: 10 });
    expect(b.lines.length).toBeGreaterThan(5);
    expect(b.lines.every((l) => l.width <= 100)).toBe(true);
    expect(b.lines.map((l) => l.pieces.map((p) => p.text).join('')).join('')).toBe('x'.repeat(500));
  });

  it('ends a block cut at maxLines with an ellipsis', () => {
    const b = t.layout('word '.repeat(200), 120, { size: 10 }, 3);
    expect(b.lines).toHaveLength(3);
    expect(b.lines[2]!.pieces.at(-1)!.text).toBe('\u2026');
    expect(b.lines[2]!.width).toBeLessThanOrEqual(120);
  });

  it('sets Hebrew, Thai and Devanagari in their fonts and breaks Thai between words, not inside one', () => {
    const fontOf = (text: string) => t.layout(text, 500, { size: 10 }).lines[0]!.pieces[0]!.fontKey;
    expect(fontOf('שלום')).toBe('noto-hebrew');
    expect(fontOf('สวัสดี')).toBe('noto-thai');
    expect(fontOf('नमस्ते')).toBe('noto-devanagari');
    // Hebrew is right-to-left like Arabic.
    expect(visual(t.layout('שלום עולם', 500, { size: 10 }))).toEqual([['עולם', 'שלום']]);
    const thai = 'ผู้ป่วยมีไฝที่หลังซึ่งเปลี่ยนสีและขนาดในช่วงหกเดือนที่ผ่านมา';
    const b = t.layout(thai, 60, { size: 10 });
    expect(b.lines.length).toBeGreaterThan(2);
    for (const line of b.lines) {
      expect(line.width).toBeLessThanOrEqual(60);
      // No line starts with a combining vowel or tone mark torn from its consonant.
      expect(line.pieces[0]!.text).not.toMatch(/^\p{M}/u);
    }
    expect(b.lines.map((l) => l.pieces.map((p) => p.text).join('')).join('')).toBe(thai);
  });
});
