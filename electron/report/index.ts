/** PDF reports: one import for the app's handlers, the CLI and the tests. */
export { renderVisitReport } from './visit-report.ts';
export { renderBatchReport } from './batch-report.ts';
export { renderLesionReport } from './lesion-report.ts';
export type { RenderedReport } from './document.ts';
export * from './types.ts';
export {
  modelNameOf,
  ReportError,
  batchReportData,
  lesionReportData,
  renderReportFromStore,
  reportContextFor,
  visitReportData,
  type ReportKind,
  type StoreReportOptions,
} from './from-store.ts';
