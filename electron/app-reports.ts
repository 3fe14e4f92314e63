/** Builds a PDF report from the store for the app's export button (electron/report does the document). */
import type { Settings } from '#common/domain';
import type { ReportKind } from '#common/ipc';
import {
  batchReportData,
  lesionReportData,
  renderBatchReport,
  renderLesionReport,
  renderVisitReport,
  visitReportData,
} from './report/index.ts';
import type { Store } from './store/index.ts';
import type { z } from 'zod';

export interface ReportRequest {
  kind: z.infer<typeof ReportKind>;
  id: number;
  settings: Settings;
}

export interface ExportedReport {
  bytes: Buffer;
  pages: number;
  suggestedName: string;
}

function stamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
}

export async function exportReport(store: Store, { kind, id, settings }: ReportRequest): Promise<ExportedReport> {
  const now = new Date();
  const options = { clinicName: settings.clinicName, generatedAt: now };
  const rendered =
    kind === 'visit'
      ? await renderVisitReport(await visitReportData(store, id, options))
      : kind === 'batch'
        ? await renderBatchReport(await batchReportData(store, id, options))
        : await renderLesionReport(await lesionReportData(store, id, options));
  return { bytes: rendered.pdf, pages: rendered.pages, suggestedName: `dermafuse-${kind}-${id}-${stamp(now)}.pdf` };
}
