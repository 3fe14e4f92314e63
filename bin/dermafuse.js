#!/usr/bin/env node
// Runs the TypeScript CLI directly from source through tsx, so `npx dermafuse` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../electron/cli/main.ts');
try {
  await main(process.argv);
} catch (err) {
  // Users see one clear line; the stack is for developers who ask for it.
  console.error(`dermafuse: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.DERMAFUSE_DEBUG) console.error(err);
  process.exitCode = 2;
}
