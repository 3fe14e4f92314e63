/**
 * The model factory's commands, added to the clinical `dermafuse` program by the source-run
 * launcher (bin/dermafuse.js). The installed app never loads this folder.
 */
import type { Command } from 'commander';
import { registerEvaluateCached } from './evaluate-cached.ts';
import { registerTrain } from './train.ts';

export function registerTrainingCommands(program: Command): void {
  registerTrain(program);
  registerEvaluateCached(program);
}
