/**
 * Clinic adaptation: gather confirmed cases (cases.ts, backfill.ts), cross-validate and fit
 * (run.ts over electron/model/adaptation), write a local model version (local-model.ts) and keep
 * the clinic's versions, adoption and rollback (registry.ts). One import for the app, CLI and tests.
 */
export { AdaptationInputError, adaptationLabel, casesFromLabels, casesFromStore, checkCases, type AdaptationCase, type CaseSet, type Progress, type ProgressListener } from './cases.ts';
export { backfillFeatures, type BackfillResult } from './backfill.ts';
export { LocalModelError, localVersionName, manifestSha256, verifyModelFolder, writeModelFolder, type LocalModelSpec } from './local-model.ts';
export { createRegistry, modelInForce, LOCAL_MODELS_DIR, REGISTRY_FILE, type ModelRegistry, type RegistryAudit, type RegistryState, type RegistryVersion } from './registry.ts';
export { loadBaseModel, METHOD_REQUESTS, runAdaptation, writeLocalModel, writeModelFolderAt, type AdaptationResult, type BaseModelFolder, type MethodRequest, type RunAdaptationOptions, type WrittenModel } from './run.ts';
export { comparisonRows, type AdaptationSummary, type CandidateSummary } from './summary.ts';
