/** The model options shared by the commands that classify (`classify`, `batch`), and loading the model from them. */
import { Option } from 'commander';
import { createClassifier } from '../model/classifier.ts';
import { OperatingPointName } from '../model/manifest.ts';
import { EXECUTION_PROVIDERS, type ExecutionProviderChoice } from '../model/runtime.ts';
import type { Classifier } from '../model/types.ts';

export function operatingPointOption(): Option {
  return new Option(
    '--operating-point <preset>',
    "threshold preset chosen on validation data: sensitive (sensitivity >= 0.90), balanced (max Youden's J) or specific (specificity >= 0.90); models without presets use their single threshold",
  )
    .choices(OperatingPointName.options)
    .default('sensitive');
}

export type ClassifierFactory = (opts: { modelDir?: string; executionProvider?: ExecutionProviderChoice; operatingPoint?: OperatingPointName }) => Promise<Classifier>;

/** `--provider`, checked before anything slow starts. */
export function providerOf(opts: Record<string, unknown>): ExecutionProviderChoice | undefined {
  const provider = opts.provider as string | undefined;
  if (provider && !(EXECUTION_PROVIDERS as readonly string[]).includes(provider)) {
    throw new Error(`--provider must be one of ${EXECUTION_PROVIDERS.join(', ')}`);
  }
  return provider as ExecutionProviderChoice | undefined;
}

/**
 * Loads the model named by --model / --provider / --operating-point. A model that cannot load is
 * one line on stderr and exit code 2 (null returned), not a stack trace.
 */
export async function loadCliClassifier(command: string, opts: Record<string, unknown>, factory: ClassifierFactory = createClassifier): Promise<Classifier | null> {
  try {
    return await factory({
      modelDir: opts.model as string | undefined,
      executionProvider: providerOf(opts),
      operatingPoint: opts.operatingPoint as OperatingPointName,
    });
  } catch (error) {
    process.stderr.write(`dermafuse ${command}: cannot load the model: ${(error as Error).message}\n`);
    process.exitCode = 2;
    return null;
  }
}
