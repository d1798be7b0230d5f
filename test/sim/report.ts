// How a failing seed is told: what broke, the options, the end of the trace, and one command
// that replays exactly that run.
import { describeOptions } from './options.js';
import type { SimResult } from './simulation.js';

export function reproduceCommand(seed: number): string {
  return `reproduce: SIM_SEED=${seed} npx vitest run test/sim`;
}

export function failureReport(result: SimResult): string {
  return [
    `seed ${result.seed} FAILED [${result.checker ?? '?'}] ${result.message ?? ''}`,
    describeOptions(result.options),
    `stats ${JSON.stringify(result.stats)}`,
    'trace (last lines):',
    ...result.traceTail.map((l) => `  ${l}`),
    reproduceCommand(result.seed),
  ].join('\n');
}

/** Seeds to run, from the environment: SIM_SEED (one, verbose) or SIM_SEEDS from SIM_SEED_BASE. */
export function seedPlan(env: Record<string, string | undefined>, defaults: { base: number; count: number }): {
  seeds: number[];
  verbose: boolean;
} {
  const single = env['SIM_SEED'];
  if (single !== undefined && single !== '') {
    const seed = Number(single);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`SIM_SEED must be a non-negative integer, got ${single}`);
    return { seeds: [seed], verbose: env['SIM_QUIET'] === undefined };
  }
  const count = env['SIM_SEEDS'] ? Number(env['SIM_SEEDS']) : defaults.count;
  const base = env['SIM_SEED_BASE'] ? Number(env['SIM_SEED_BASE']) : defaults.base;
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`SIM_SEEDS must be a positive integer`);
  if (!Number.isSafeInteger(base) || base < 0) throw new Error(`SIM_SEED_BASE must be a non-negative integer`);
  return { seeds: Array.from({ length: count }, (_, i) => base + i), verbose: false };
}
