import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Rollup } from 'vite';

// zod's sources carry comments rollup cannot place; harmless, and they drown real warnings.
function quietZodAnnotations(warning: Rollup.RollupLog, warn: (w: Rollup.RollupLog) => void): void {
  if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('node_modules/zod')) return;
  warn(warning);
}

// The same bundle runs in the app (dermafuse://app/) and in the test browser (http://127.0.0.1:port/):
// relative asset URLs, no inline scripts (the CSP forbids them), no module-preload polyfill (inline).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'chrome130',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: { onwarn: quietZodAnnotations },
  },
  server: { host: '127.0.0.1' },
});
