/** Builds a PDF report from the store for the app's export button. */
import type { Settings } from './common/domain.ts';
import type { ReportKind } from './ipc/contract.ts';
import { ServiceError } from './ipc/handlers.ts';
import type { Store } from './store/index.ts';
import type { z } from 'zod';

export interface ReportRequest {
  kind: z.infer<typeof ReportKind>;
  id: number;
  settings: Settings;
  modelVersion: string | null;
}

export interface RenderedReport {
  bytes: Buffer;
  suggestedName: string;
}

export async function exportReport(_store: Store, _request: ReportRequest): Promise<RenderedReport> {
  throw new ServiceError('unavailable', 'PDF reports are not available yet');
}
