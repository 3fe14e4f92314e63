/**
 * `dermafuse` — the headless face of the workstation. Each clinical command lives in its own
 * module and registers itself here; they all call the same services the desktop app uses. The
 * model factory's commands (train, evaluate-cached) are added by bin/dermafuse.js from training/.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { projectRoot } from '../util/paths.ts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { registerAdapt } from './adapt.ts';
import { registerBatch } from './batch.ts';
import { registerClassify } from './classify.ts';
import { registerEvaluate } from './evaluate.ts';
import { registerReport } from './report.ts';

const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('dermafuse')
    .description('Dermoscopy triage: melanoma vs benign from InceptionV3 / MobileNetV2 branches (the model version says which it fuses), with Grad-CAM (decision support, not a diagnosis)')
    .version(version)
    // Program options only before the command name, so a command may have its own --version.
    .enablePositionalOptions()
    .showHelpAfterError();
  registerClassify(program);
  registerBatch(program);
  registerReport(program);
  registerEvaluate(program);
  registerAdapt(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}

// Run directly (`npm run cli -- …` / `tsx electron/cli/main.ts`); bin/dermafuse.js imports it instead.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv);
}
