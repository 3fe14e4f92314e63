#!/usr/bin/env node
// Runs the TypeScript CLI directly from source through tsx, so `npx dermafuse` needs no build step.
// This source-run launcher also adds the model factory's commands (training/); the installed app's
// CLI is the compiled electron/cli alone.
import { register } from 'tsx/esm/api';

register();
const { buildProgram } = await import('../electron/cli/main.ts');
const { registerTrainingCommands } = await import('../training/cli/commands.ts');
try {
  const program = buildProgram();
  registerTrainingCommands(program);
  await program.parseAsync(process.argv);
} catch (err) {
  // Users see one clear line; the stack is for developers who ask for it.
  console.error(`dermafuse: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.DERMAFUSE_DEBUG) console.error(err);
  process.exitCode = 2;
}
