/** Clinic adaptation maths: pure, deterministic functions over pooled features (no I/O). */
export * from './types.ts';
export { headParts, type HeadParts } from './member-logits.ts';
export { defaultL2, fitMethod, OFF_ANCHOR_LOGIT_SD, scoreAdapted, shippedProbability } from './methods.ts';
export { crossValidate, DEFAULT_BOOTSTRAP_ITERATIONS, DEFAULT_K, DEFAULT_REPEATS, DEFAULT_SEED, groupedStratifiedFolds, operatingFigures } from './cross-validation.ts';
export { chooseMethod, MIN_CASES_PER_CLASS } from './choose.ts';
export { fitFinal, recalibrationMap } from './final.ts';
