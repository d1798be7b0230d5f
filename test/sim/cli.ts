// Developer entry point outside vitest, for long runs and timing:
//   npx vite-node test/sim/cli.ts -- [--seed N | --base B --count C] [--verbose] [--no-membership]
// Prints failures with their reproduce line, then seeds per minute. --no-membership turns off
// membership changes and wipes, to look for bugs hidden behind membership ones (such runs are not
// what `SIM_SEED=N` replays).
import { createRaftCore } from './core-factory.js';
import { fromSeed } from './options.js';
import { failureReport } from './report.js';
import { runSeed } from './simulation.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const single = arg('seed');
const verbose = process.argv.includes('--verbose');
const noMembership = process.argv.includes('--no-membership');
const base = Number(single ?? arg('base') ?? 1);
const count = single !== undefined ? 1 : Number(arg('count') ?? 100);
const started = performance.now();
let failures = 0;
const byChecker = new Map<string, number[]>();
for (let seed = base; seed < base + count; seed++) {
  const options = fromSeed(seed);
  if (noMembership) options.faults = { ...options.faults, membershipOdds: 0, wipeOdds: 0 };
  const result = runSeed(options, createRaftCore, { verbose: verbose || single !== undefined });
  if (!result.ok) {
    failures++;
    const list = byChecker.get(result.checker ?? '?') ?? [];
    list.push(seed);
    byChecker.set(result.checker ?? '?', list);
    if (failures <= 3 || single !== undefined) console.log(failureReport(result));
    else console.log(`seed ${seed} FAILED [${result.checker}] ${result.message?.split('\n')[0]}`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${count} seeds from ${base}, ${failures} failed, ${seconds.toFixed(1)}s, ${Math.round((count / seconds) * 60)} seeds/minute`,
);
for (const [checker, seeds] of byChecker) console.log(`  ${checker}: ${seeds.slice(0, 20).join(' ')}${seeds.length > 20 ? ' ...' : ''}`);
process.exitCode = failures > 0 ? 1 : 0;
