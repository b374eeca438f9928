import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that take long mostly waiting (a 60 s NATS outage, clusters electing leaders, CLI
 * processes), started first: on a fresh clone vitest has no timings to order by, and the outage
 * test started last made the whole run its start plus its 60 s.
 */
const LONG_FIRST = [
  'test/cli/replicas-outage.test.ts',
  'test/models/interrupted-commands.test.ts',
  'test/pipelines/ingest.test.ts',
  'test/events/nats-bus.test.ts',
  'test/cli/train-promote.test.ts',
  'test/cli/data-features.test.ts',
  'test/cli/quickstart.test.ts',
  'test/cli/replicas-cluster.test.ts',
  'test/server/durability.test.ts',
  'test/cli/dash-terminal.test.ts',
];

class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => LONG_FIRST.findIndex((p) => f.moduleId.endsWith(p));
    return [...sorted.filter((f) => rank(f) >= 0).sort((a, b) => rank(a) - rank(b)), ...sorted.filter((f) => rank(f) < 0)];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Rebuilds dist/ (what the CLI tests run) when the sources are newer, and puts every temp
    // folder of the run under one folder it removes at the end.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // DuckDB and worker-heavy suites share 2 cores; forks keep native handles isolated.
    pool: 'forks',
    // A worker process runs file after file instead of a fresh process per file: importing the
    // library again for each of 85 files was ~30 s of CPU (91 → 72 s for the suite). Tests keep
    // no state between files: each makes its own temp folders, apps, buses and servers.
    isolate: false,
    // Many suites mostly wait (CLI children, nats-servers, a 60 s outage), so twice as many
    // workers as cores keeps both busy: 104 → 91 s for the whole suite on this machine.
    maxWorkers: 4,
    sequence: { sequencer: LongFirstSequencer },
    // The JSON report is what .ci/run counts ("N passed, N failed").
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
  },
});
