import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/training/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    // Model conversion and the browser tests are CPU-heavy on a 2-core machine; serial files keep timings sane.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
