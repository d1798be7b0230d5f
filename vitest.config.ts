import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // `*.case.ts` files are shared suites (conformance), imported by the tests that run them.
    include: ['node/**/*.test.ts', 'operator/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: real-process tests must not starve each other.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    coverage: {
      provider: 'v8',
      include: ['node/src/**/*.ts', 'operator/src/**/*.ts'],
      // Run outside vitest (child processes of the crash test, benchmarks): measured by what they do.
      exclude: ['**/*.test.ts', 'node/src/storage/bench-append.ts', 'node/src/storage/testing/**'],
      reporter: ['text-summary', 'json-summary'],
      reportOnFailure: true,
      reportsDirectory: 'coverage',
      thresholds: { lines: 80 },
    },
  },
});
