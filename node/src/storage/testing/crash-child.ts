// The process that test/storage/crash.test.ts kills with SIGKILL. Usage:
//   node dist/node/src/storage/testing/crash-child.js <data dir> <seed> <wal|level>
//   node dist/node/src/storage/testing/crash-child.js --check      (loads, then exits 0)
// It writes to the log (up to 8 operations in flight, so group commit is exercised) and saves
// snapshots, and reports on stdout, one line each:
//   R              storage opened and verified
//   I <n> <op>     operation n is about to be submitted (JSON, see crash-workload.ts)
//   A <n>          operation n is durable
//   SI <k> / SA <k> snapshot k is about to be saved / is durable
// Pipes are written synchronously by Node on Linux, so a line is out before the next step runs.
import { seededRng } from '../../raft/rng.js';
import { SnapshotStore } from '../snapshot-store.js';
import { join } from 'node:path';
import { applyOp, CRASH_ENGINES, nextOp, openCrashLog, performOp, readWorkloadState, snapshotMetaOf, workloadSnapshotData } from './crash-workload.js';
import type { CrashEngine } from './crash-workload.js';

const MAX_IN_FLIGHT = 8;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function die(err: unknown): never {
  process.stderr.write(`crash-child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(3);
}

async function snapshotLoop(store: SnapshotStore): Promise<void> {
  let k = store.latest()?.meta.index ?? 0;
  for (;;) {
    k++;
    const data = workloadSnapshotData(k);
    say(`SI ${k}`);
    await store.save(snapshotMetaOf(k, 1), (async function* () {
      for (let offset = 0; offset < data.length; offset += 16_384) yield data.subarray(offset, offset + 16_384);
    })());
    say(`SA ${k}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function main(): Promise<void> {
  // Loading this file links every module it needs; `--check` stops there (the test's load check).
  if (process.argv[2] === '--check') return;
  const [dir, seedText, engine] = process.argv.slice(2);
  if (dir === undefined || seedText === undefined || !CRASH_ENGINES.includes(engine as CrashEngine)) {
    throw new Error('usage: crash-child <data dir> <seed> <wal|level>');
  }
  const rng = seededRng(Number(seedText));
  const log = await openCrashLog(engine as CrashEngine, dir);
  const snapshots = await SnapshotStore.open(join(dir, 'snapshots'));
  const state = await readWorkloadState(log);
  say('R');
  snapshotLoop(snapshots).catch(die);
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; ; n++) {
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    const op = nextOp(state, rng);
    applyOp(state, op);
    say(`I ${n} ${JSON.stringify(op)}`);
    const done: Promise<void> = performOp(log, op).then(
      () => {
        inFlight.delete(done);
        say(`A ${n}`);
      },
      die,
    );
    inFlight.add(done);
  }
}

main().catch(die);
