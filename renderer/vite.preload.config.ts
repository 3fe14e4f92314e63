import { fileURLToPath } from 'node:url';
import { defineConfig, type Rollup } from 'vite';

// zod's sources carry comments rollup cannot place; harmless, and they drown real warnings.
function quietZodAnnotations(warning: Rollup.RollupLog, warn: (w: Rollup.RollupLog) => void): void {
  if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('node_modules/zod')) return;
  warn(warning);
}

// A sandboxed preload cannot load ES modules or other files: bundle electron/preload.ts (with
// the contract it imports) into one CommonJS file next to the compiled main process.
const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root,
  publicDir: false,
  build: {
    outDir: 'dist/electron',
    emptyOutDir: false,
    target: 'chrome130',
    minify: false,
    reportCompressedSize: false,
    lib: { entry: 'electron/preload.ts', formats: ['cjs'], fileName: () => 'preload.cjs' },
    rollupOptions: { external: ['electron'], onwarn: quietZodAnnotations },
  },
});
