/** PDF reports (electron/report renders them): export to a file, open one exported in this session. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from '#common/domain';
import type { ReportKind } from '#common/ipc';
import type { z } from 'zod';
import { ServiceError } from '../ipc/handlers.ts';
import { renderReportFromStore } from '../report/index.ts';
import type { Store } from '../store/index.ts';
import type { ChannelsOf, Dialogs } from './types.ts';

export interface ExportedReport {
  bytes: Buffer;
  pages: number;
  suggestedName: string;
}

function stamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
}

/**
 * `modelDir`: the folder of the model in use (an adopted local version), whose manifest names the
 * version and tier cut-offs the report prints; null: the shipped model.
 */
export async function renderReport(store: Store, kind: z.infer<typeof ReportKind>, id: number, settings: Settings, modelDir: string | null = null): Promise<ExportedReport> {
  const now = new Date();
  const rendered = await renderReportFromStore(store, kind, id, { clinicName: settings.clinicName, generatedAt: now, ...(modelDir ? { modelDir } : {}) });
  return { bytes: rendered.pdf, pages: rendered.pages, suggestedName: `dermafuse-${kind}-${id}-${stamp(now)}.pdf` };
}

export function reportChannels(
  store: Store,
  options: { settings: () => Settings; dialogs?: Dialogs; reportsDir?: string; modelDir?: () => string | null },
): ChannelsOf<'reports.export' | 'reports.open'> {
  const { dialogs } = options;
  // Only files this session wrote may be opened on the renderer's request.
  const exported = new Set<string>();
  return {
    async 'reports.export'({ kind, id }) {
      const pdf = await renderReport(store, kind, id, options.settings(), options.modelDir?.() ?? null);
      let path: string | null;
      if (dialogs) {
        path = await dialogs.pickSavePath(pdf.suggestedName);
        if (path === null) return { path: null, byteSize: 0, pages: 0 };
      } else {
        const dir = options.reportsDir ?? join(store.dataDir, 'reports');
        await mkdir(dir, { recursive: true });
        path = join(dir, pdf.suggestedName);
      }
      await writeFile(path, pdf.bytes);
      exported.add(path);
      return { path, byteSize: pdf.bytes.length, pages: pdf.pages };
    },
    async 'reports.open'({ path }) {
      if (!exported.has(path)) throw new ServiceError('invalid_request', 'only a report exported in this session can be opened');
      if (!dialogs) return { opened: false };
      await dialogs.openPath(path);
      return { opened: true };
    },
  };
}
