/**
 * The page frame every report shares: A4 pages with the clinic and report title in the header,
 * generation time, model, "Page i of n" and the intended-use line in the footer, and a cursor
 * that moves down the page and starts a new one when content would not fit.
 */
import PDFDocument from 'pdfkit';
import { loadFonts, registerFonts, type FontSet } from './fonts.ts';
import { fitInBox, type PageImage } from './images.ts';
import { TextLayout, type TextBlock, type TextStyle } from './text.ts';
import { INTENDED_USE, INTENDED_USE_SHORT, type ReportContext } from './types.ts';
import type { Prediction, Tier } from '#common/domain';

export interface RenderedReport {
  readonly pdf: Buffer;
  readonly pages: number;
}

export const PAGE = { width: 595.28, height: 841.89 } as const;
const MARGIN_X = 48;
const CONTENT_TOP = 62;
const CONTENT_BOTTOM = PAGE.height - 62;

export const COLORS = {
  text: '#111111',
  muted: '#555555',
  rule: '#bbbbbb',
  panel: '#f3f4f6',
  zebra: '#f7f7f9',
  low: '#2e7d32',
  review: '#a15c00',
  high: '#b71c1c',
  error: '#5f6368',
  pending: '#7a7a7a',
  /** Refused by the input gate: a neutral slate, no tier colour. */
  cannot_assess: '#37474f',
} as const;

export type Status = Tier | 'error' | 'pending' | 'cannot_assess';

const STATUS_LABEL: Record<Status, string> = {
  low: 'LOW',
  review: 'REVIEW',
  high: 'HIGH',
  error: 'NOT CLASSIFIED',
  pending: 'PENDING',
  cannot_assess: 'CANNOT ASSESS',
};

/** "2026-11-28 10:15 CET": minutes are enough on paper, and the zone is always named. */
export function formatDateTime(d: Date, timeZone = 'UTC'): string {
  if (timeZone === 'UTC') return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}

/** A stored ISO timestamp in the report's zone; text that is not a timestamp is printed as it is. */
export function formatIsoDateTime(iso: string | null | undefined, timeZone = 'UTC'): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : formatDateTime(d, timeZone);
}

/** True when the runtime knows the IANA zone name. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export function formatProbability(p: number): string {
  return `${p.toFixed(3)} (${(p * 100).toFixed(1)}%)`;
}

export function formatUncertainty(u: number): string {
  return `\u00b1${u.toFixed(3)}`;
}

/** Which side of the threshold a prediction falls, in words a clinician reads the same way twice. */
export function thresholdVerdict(p: Prediction): string {
  return p.pMalignant >= p.threshold ? 'at or above threshold' : 'below threshold';
}

export class ReportDocument {
  readonly doc: PDFKit.PDFDocument;
  readonly text: TextLayout;
  readonly fonts: FontSet;
  readonly left = MARGIN_X;
  readonly right = PAGE.width - MARGIN_X;
  readonly contentWidth = PAGE.width - 2 * MARGIN_X;
  readonly bottom = CONTENT_BOTTOM;
  y = CONTENT_TOP;
  /** Printed times, in the report's time zone. */
  readonly dateTime = (d: Date): string => formatDateTime(d, this.context.timeZone);
  readonly isoDateTime = (iso: string | null | undefined): string => formatIsoDateTime(iso, this.context.timeZone);
  /** Called after each page's header, e.g. to repeat a table header. */
  onNewPage: (() => void) | null = null;
  private readonly chunks: Buffer[] = [];
  private readonly done: Promise<Buffer>;

  constructor(
    readonly context: ReportContext,
    readonly title: string,
  ) {
    this.doc = new PDFDocument({
      size: 'A4',
      // Layout is done here, not by pdfkit: zero margins keep it from adding pages on its own.
      margins: { top: 0, bottom: 0, left: 0, right: 0 },
      bufferPages: true,
      autoFirstPage: false,
      info: {
        Title: `${title}${context.clinicName ? ` - ${context.clinicName}` : ''}`,
        Author: context.clinicName || 'dermafuse',
        Creator: 'dermafuse',
        Producer: 'dermafuse (pdfkit)',
        CreationDate: context.generatedAt,
      },
    });
    this.done = new Promise((resolve, reject) => {
      this.doc.on('data', (c: Buffer) => this.chunks.push(c));
      this.doc.on('end', () => resolve(Buffer.concat(this.chunks)));
      this.doc.on('error', reject);
    });
    this.fonts = loadFonts(context.fontsDir);
    registerFonts(this.doc, this.fonts);
    this.text = new TextLayout(this.doc, this.fonts);
    this.addPage();
  }

  addPage(): void {
    this.doc.addPage({ size: 'A4', margins: { top: 0, bottom: 0, left: 0, right: 0 } });
    const headerStyle: TextStyle = { size: 8.5, weight: 'bold', color: COLORS.muted };
    const titleW = this.text.layout(this.title, this.contentWidth / 2, headerStyle, 1);
    this.text.draw(titleW, this.right - titleW.width, 30);
    const clinic = this.text.layout(this.context.clinicName || 'dermafuse', this.contentWidth - titleW.width - 16, headerStyle, 1);
    this.text.draw(clinic, this.left, 30);
    this.rule(46);
    this.y = CONTENT_TOP;
    this.onNewPage?.();
  }

  /** Starts a new page unless `height` more points fit on this one. */
  ensure(height: number): void {
    if (this.y + height > this.bottom && this.y > CONTENT_TOP) this.addPage();
  }

  get remaining(): number {
    return this.bottom - this.y;
  }

  rule(y: number, color: string = COLORS.rule, x1 = this.left, x2 = this.right): void {
    this.doc.save().moveTo(x1, y).lineTo(x2, y).lineWidth(0.6).strokeColor(color).stroke().restore();
  }

  /** Text at the cursor, wrapped to width, continued on following pages when long. */
  paragraph(text: string, style: TextStyle, x = this.left, width = this.right - x, gapAfter = 4): void {
    this.flowBlock(this.text.layout(text, width, style), x);
    this.y += gapAfter;
  }

  flowBlock(block: TextBlock, x: number): void {
    let i = 0;
    while (i < block.lines.length) {
      if (this.y + block.lineHeight > this.bottom) this.addPage();
      const fit = Math.max(1, Math.floor((this.bottom - this.y) / block.lineHeight));
      const to = Math.min(block.lines.length, i + fit);
      this.text.draw(block, x, this.y, i, to);
      this.y += (to - i) * block.lineHeight;
      i = to;
    }
  }

  heading(text: string, size = 13): void {
    const block = this.text.layout(text, this.contentWidth, { size, weight: 'bold', color: COLORS.text });
    this.ensure(Math.min(block.height, 3 * block.lineHeight) + 40);
    this.flowBlock(block, this.left);
    this.y += 3;
  }

  /**
   * Label/value rows: labels in a fixed column, values wrapped beside them and continued onto the
   * next page when a value (a long note) runs past the bottom.
   */
  keyValues(rows: readonly (readonly [string, string])[], x = this.left, width = this.right - x, labelWidth = 150, size = 9.5): void {
    const valueX = x + labelWidth;
    const valueW = width - labelWidth;
    for (const [label, value] of rows) {
      const l = this.text.layout(label, labelWidth - 8, { size, weight: 'bold', color: COLORS.muted });
      const v = this.text.layout(value === '' ? '\u2014' : value, valueW, { size, color: COLORS.text });
      this.ensure(Math.min(Math.max(l.height, v.height), 3 * v.lineHeight));
      const top = this.y;
      this.text.draw(l, x, top, 0, Math.min(l.lines.length, Math.max(1, Math.floor((this.bottom - top) / l.lineHeight))));
      let i = 0;
      while (i < v.lines.length) {
        if (this.y + v.lineHeight > this.bottom) this.addPage();
        const fit = Math.max(1, Math.floor((this.bottom - this.y) / v.lineHeight));
        const to = Math.min(v.lines.length, i + fit);
        this.text.draw(v, valueX, this.y, i, to);
        this.y += (to - i) * v.lineHeight;
        i = to;
      }
      this.y = Math.max(this.y, top + (this.y >= top ? l.height : 0));
      this.y += 2;
    }
  }

  /** A shaded box with the full intended-use statement. */
  intendedUse(): void {
    const pad = 8;
    const block = this.text.layout(INTENDED_USE, this.contentWidth - 2 * pad, { size: 9, weight: 'bold', color: COLORS.text });
    const h = block.height + 2 * pad;
    this.ensure(h);
    this.doc.save().rect(this.left, this.y, this.contentWidth, h).fill(COLORS.panel).restore();
    this.doc.save().rect(this.left, this.y, 3, h).fill(COLORS.high).restore();
    this.text.draw(block, this.left + pad + 2, this.y + pad);
    this.y += h + 10;
  }

  /** A coloured label for a tier or a failure; returns its width. */
  badge(status: Status, x: number, y: number, size = 8): number {
    const label = STATUS_LABEL[status];
    const block = this.text.layout(label, 200, { size, weight: 'bold', color: '#ffffff' }, 1);
    const w = block.width + 8;
    const h = size * 1.6;
    this.doc.save().roundedRect(x, y, w, h, 2).fill(COLORS[status]).restore();
    this.text.draw(block, x + 4, y + (h - block.lineHeight) / 2 + size * 0.05);
    return w;
  }

  /** An image fitted into the box with its aspect ratio kept, or a framed note when there is none. */
  image(image: PageImage | null, x: number, y: number, width: number, height: number, missing = 'image unavailable'): void {
    if (image) {
      const box = fitInBox(image, x, y, width, height);
      this.doc.image(image.jpeg, box.x, box.y, { width: box.width, height: box.height });
      return;
    }
    this.doc.save().rect(x, y, width, height).lineWidth(0.5).dash(2, { space: 2 }).strokeColor(COLORS.rule).stroke().undash().restore();
    const size = Math.min(8, Math.max(5, width / 10));
    const note = this.text.layout(missing, width - 4, { size, color: COLORS.muted }, 3);
    this.text.draw(note, x + 2, y + (height - note.height) / 2, 0, note.lines.length, 'center', width - 4);
  }

  /** Writes page footers (now that the page count is known) and returns the finished PDF. */
  async finish(): Promise<RenderedReport> {
    const range = this.doc.bufferedPageRange();
    const style: TextStyle = { size: 7.5, color: COLORS.muted };
    const left = `Generated ${this.dateTime(this.context.generatedAt)} \u00b7 ${this.context.modelName} ${this.context.modelVersion}`;
    for (let i = 0; i < range.count; i++) {
      this.doc.switchToPage(range.start + i);
      const footerTop = PAGE.height - 50;
      this.rule(footerTop);
      const page = this.text.layout(`Page ${i + 1} of ${range.count}`, 100, { ...style, weight: 'bold' }, 1);
      this.text.draw(page, this.right - page.width, footerTop + 5);
      this.text.draw(this.text.layout(left, this.contentWidth - page.width - 16, style, 1), this.left, footerTop + 5);
      this.text.draw(this.text.layout(INTENDED_USE_SHORT, this.contentWidth, style, 1), this.left, footerTop + 17);
    }
    this.doc.end();
    return { pdf: await this.done, pages: range.count };
  }
}
