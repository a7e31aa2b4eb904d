import { defineConfig } from 'vitest/config';

// The addon holds process-wide state (one dataplane per process): every test file runs in
// its own forked process, never in worker threads of one process.
export default defineConfig({
  test: {
    pool: 'forks',
    poolOptions: { forks: { singleFork: false } },
    maxWorkers: 1, // one file at a time: netns, testpmd and timing-sensitive tests must not share two cores
    minWorkers: 1,
    isolate: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ['test/**/*.test.ts', 'graph/**/*.test.ts', 'memif/**/*.test.ts', 'cni/**/*.test.ts', 'src/**/*.test.ts'],
    reporters: ['default'],
  },
});
