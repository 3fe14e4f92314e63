/**
 * ROC curves and reliability diagrams as SVG, rendered to PNG with sharp (librsvg), for the
 * model card and `evaluate --plots`.
 */
import sharp from 'sharp';
import { reliabilityBins, rocCurve, type Labels, type Scores } from './metrics.ts';

export interface CurveInput {
  readonly name: string;
  readonly scores: Scores;
  readonly labels: Labels;
  readonly auc?: number;
  readonly aucCi?: readonly [number, number];
}

const COLOURS = ['#1b6ca8', '#d1495b', '#2e933c', '#edae49', '#6a4c93', '#00798c'];
const SIZE = 520;
const PAD = { left: 64, right: 20, top: 36, bottom: 56 };
const W = SIZE - PAD.left - PAD.right;
const H = SIZE - PAD.top - PAD.bottom;

const esc = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const px = (x: number): number => PAD.left + x * W;
const py = (y: number): number => PAD.top + (1 - y) * H;

function frame(title: string, xLabel: string, yLabel: string): string {
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  return [
    `<rect width="${SIZE}" height="${SIZE}" fill="white"/>`,
    `<text x="${SIZE / 2}" y="22" font-family="DejaVu Sans, sans-serif" font-size="15" text-anchor="middle">${esc(title)}</text>`,
    ...ticks.flatMap((t) => [
      `<line x1="${px(t)}" y1="${py(0)}" x2="${px(t)}" y2="${py(1)}" stroke="#eee"/>`,
      `<line x1="${px(0)}" y1="${py(t)}" x2="${px(1)}" y2="${py(t)}" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${py(0) + 16}" font-family="DejaVu Sans, sans-serif" font-size="11" text-anchor="middle">${t.toFixed(1)}</text>`,
      `<text x="${px(0) - 8}" y="${py(t) + 4}" font-family="DejaVu Sans, sans-serif" font-size="11" text-anchor="end">${t.toFixed(1)}</text>`,
    ]),
    `<rect x="${px(0)}" y="${py(1)}" width="${W}" height="${H}" fill="none" stroke="#333"/>`,
    `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
    `<text x="${px(0.5)}" y="${SIZE - 14}" font-family="DejaVu Sans, sans-serif" font-size="13" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${py(0.5)}" font-family="DejaVu Sans, sans-serif" font-size="13" text-anchor="middle" transform="rotate(-90 16 ${py(0.5)})">${esc(yLabel)}</text>`,
  ].join('\n');
}

function legend(entries: readonly string[], corner: 'bottom-right' | 'top-left'): string {
  return entries
    .map((text, i) => {
      const x = corner === 'bottom-right' ? px(0.32) : px(0.03);
      const y = corner === 'bottom-right' ? py(0.05) - (entries.length - 1 - i) * 18 : py(0.95) + i * 18;
      return `<rect x="${x}" y="${y - 9}" width="14" height="4" fill="${COLOURS[i % COLOURS.length]}"/><text x="${x + 20}" y="${y}" font-family="DejaVu Sans, sans-serif" font-size="12">${esc(text)}</text>`;
    })
    .join('\n');
}

export function rocSvg(curves: readonly CurveInput[], title = 'ROC curve (melanoma vs benign)'): string {
  const paths = curves.map((c, i) => {
    const pts = rocCurve(c.scores, c.labels).map((p) => `${px(p.fpr).toFixed(1)},${py(p.tpr).toFixed(1)}`);
    return `<polyline points="${pts.join(' ')}" fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="2"/>`;
  });
  const entries = curves.map((c) => (c.auc === undefined ? c.name : `${c.name}: AUC ${c.auc.toFixed(3)}${c.aucCi ? ` [${c.aucCi[0].toFixed(3)}, ${c.aucCi[1].toFixed(3)}]` : ''}`));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">${frame(title, '1 - specificity (false positive rate)', 'sensitivity (true positive rate)')}${paths.join('\n')}${legend(entries, 'bottom-right')}</svg>`;
}

export function reliabilitySvg(curves: readonly CurveInput[], title = 'Reliability (calibrated P(melanoma))', bins = 10): string {
  const marks = curves.map((c, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const b = reliabilityBins(c.scores, c.labels, bins).filter((x) => x.count > 0);
    const total = b.reduce((s, x) => s + x.count, 0);
    const line = `<polyline points="${b.map((x) => `${px(x.meanPredicted).toFixed(1)},${py(x.observed).toFixed(1)}`).join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`;
    // Marker area shows how many images fall in the bin.
    const dots = b.map((x) => `<circle cx="${px(x.meanPredicted).toFixed(1)}" cy="${py(x.observed).toFixed(1)}" r="${(2 + 8 * Math.sqrt(x.count / total)).toFixed(1)}" fill="${colour}" fill-opacity="0.6"/>`);
    return line + dots.join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">${frame(title, 'mean predicted probability (bin)', 'observed melanoma fraction')}${marks.join('\n')}${legend(curves.map((c) => c.name), 'top-left')}</svg>`;
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}
