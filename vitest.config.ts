import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // DuckDB and worker-heavy suites share 2 cores; forks keep native handles isolated.
    pool: 'forks',
    // Many suites wait on child processes (the CLI, nats-server, MLflow/LLM test servers), so
    // one more worker than cores keeps both cores busy.
    maxWorkers: 3,
    // The JSON report is what .ci/run counts ("N passed, N failed").
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
  },
});
