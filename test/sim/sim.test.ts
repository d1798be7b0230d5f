// The seeded simulator against the real RaftCore.
//   CI:          npx vitest run test/sim                       (2,000 seeds from 1)
//   one seed:    SIM_SEED=123 npx vitest run test/sim           (verbose trace of that run)
//   long mode:   SIM_SEEDS=100000 SIM_SEED_BASE=1 npx vitest run test/sim   (or `make sim-long`)
// A failing seed prints its options, the end of its trace and `reproduce: SIM_SEED=... npx vitest run test/sim`.
import { afterAll, describe, expect, it } from 'vitest';
import { createRaftCore } from './core-factory.js';
import { fromSeed } from './options.js';
import { failureReport, reproduceCommand, seedPlan } from './report.js';
import { runSeed, type SimResult } from './simulation.js';

const plan = seedPlan(process.env, { base: 1, count: 2000 });
// Small enough chunks that each stays far below the per-test timeout on a busy 2-core machine.
const CHUNK = 100;
const MAX_REPORTS_PER_CHUNK = 3;
const chunkTimeoutMs = plan.verbose ? 120_000 : 60_000;

let seedsRun = 0;
let runMs = 0;

describe(`seeded simulation (${plan.seeds.length} seed${plan.seeds.length === 1 ? '' : 's'} from ${plan.seeds[0]})`, () => {
  for (let i = 0; i < plan.seeds.length; i += CHUNK) {
    const seeds = plan.seeds.slice(i, i + CHUNK);
    const name = seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}..${seeds[seeds.length - 1]}`;
    it(
      name,
      async () => {
        const failures: SimResult[] = [];
        const started = performance.now();
        for (const seed of seeds) {
          const result = runSeed(fromSeed(seed), createRaftCore, { verbose: plan.verbose });
          if (!result.ok) failures.push(result);
          // Let the worker answer vitest's RPC between seeds: a chunk that blocks the event loop
          // for a minute on a loaded machine fails the run with "Timeout calling onTaskUpdate".
          await new Promise((r) => setImmediate(r));
        }
        runMs += performance.now() - started;
        seedsRun += seeds.length;
        for (const f of failures.slice(0, MAX_REPORTS_PER_CHUNK)) console.error(failureReport(f));
        const summary = failures.map((f) => `seed ${f.seed} [${f.checker}] ${firstLine(f.message)}\n  ${reproduceCommand(f.seed)}`);
        expect(summary, `${failures.length} of ${seeds.length} seeds failed`).toEqual([]);
      },
      chunkTimeoutMs,
    );
  }
});

afterAll(() => {
  if (seedsRun === 0) return;
  const perMinute = Math.round((seedsRun / runMs) * 60_000);
  console.log(`simulator: ${seedsRun} seeds in ${(runMs / 1000).toFixed(1)}s = ${perMinute} seeds/minute`);
});

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0] ?? '';
}
