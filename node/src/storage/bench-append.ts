// Append benchmark for the log storages (not a test): the write-ahead log that nodes use and the
// LevelDB log of data format 1, side by side. Build, then run:
//   npx tsc -p tsconfig.build.json && node dist/node/src/storage/bench-append.js [--dir D] [--seconds S]
// Measures, on the disk holding D (default: the OS temp dir):
// - raw: append 256 bytes + fdatasync in a loop (the ceiling for one durable write at a time),
//   with fs.fdatasyncSync, and the same loop through the async API for reference;
// - batch N: one writer appending N entries of 256 bytes per write(), each awaited (fsync each),
//   for each storage. The raw loops and batch 1 are measured in alternating slices, so that load from other
//   processes on a shared machine hits them alike and their ratio stays meaningful;
// - group commit: 64 concurrent writers appending one entry each, in a loop.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Entry } from '../raft/types.js';
import { LevelLogStorage } from './level-log-storage.js';
import { WalLogStorage } from './wal-log-storage.js';

type Engine = 'wal' | 'level';
const ENGINES: readonly Engine[] = ['wal', 'level'];
type AppendLog = WalLogStorage | LevelLogStorage;

function openLog(engine: Engine, dir: string): Promise<AppendLog> {
  return engine === 'wal' ? WalLogStorage.open(dir) : LevelLogStorage.open(dir);
}

const ENTRY_BYTES = 256;

interface Result {
  name: string;
  entriesPerSec: number;
  writesPerSec: number;
  fsyncsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function summarize(name: string, latenciesMs: number[], entries: number, fsyncs: number, seconds: number): Result {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    name,
    entriesPerSec: entries / seconds,
    writesPerSec: latenciesMs.length / seconds,
    fsyncsPerSec: fsyncs / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

/** Accumulates latencies over several slices of one phase. */
class Phase {
  latencies: number[] = [];
  entries = 0;
  fsyncs = 0;
  seconds = 0;
  constructor(readonly name: string) {}
  result(): Result {
    return summarize(this.name, this.latencies, this.entries, this.fsyncs, this.seconds);
  }
}

function rawSlice(fd: number, phase: Phase, seconds: number): void {
  const block = new Uint8Array(ENTRY_BYTES).fill(0x61);
  const start = performance.now();
  const end = start + seconds * 1000;
  for (let now = start; now < end; ) {
    writeSync(fd, block);
    fdatasyncSync(fd);
    const after = performance.now();
    phase.latencies.push(after - now);
    phase.entries++;
    phase.fsyncs++;
    now = after;
  }
  phase.seconds += (performance.now() - start) / 1000;
}

const payload = new Uint8Array(ENTRY_BYTES).map((_, i) => (i * 7) & 0xff);
const entryAt = (index: number): Entry => ({ index, term: 1, kind: 'normal', data: payload });

async function sequentialSlice(log: AppendLog, batch: number, phase: Phase, seconds: number): Promise<void> {
  let next = log.lastIndex() + 1;
  const flushesBefore = log.stats().flushes;
  const start = performance.now();
  const end = start + seconds * 1000;
  for (let now = start; now < end; ) {
    const entries = Array.from({ length: batch }, () => entryAt(next++));
    await log.write({ hardState: null, entries });
    const after = performance.now();
    phase.latencies.push(after - now);
    phase.entries += batch;
    now = after;
  }
  phase.seconds += (performance.now() - start) / 1000;
  phase.fsyncs += log.stats().flushes - flushesBefore;
}

async function sequential(engine: Engine, dir: string, batch: number, seconds: number): Promise<Result> {
  const log = await openLog(engine, join(dir, `${engine}-batch-${batch}`));
  const phase = new Phase(`${engine} batch ${batch}`);
  await sequentialSlice(log, batch, phase, seconds);
  await log.close();
  return phase.result();
}

/**
 * The same loop through libuv's thread pool (what any async storage pays: a hand-off to a worker
 * thread and back per write). Not a target; it shows how much of the gap to the synchronous loop
 * is that hand-off, which grows when other processes compete for the CPU.
 */
async function rawAsyncSlice(handle: FileHandle, phase: Phase, seconds: number): Promise<void> {
  const block = new Uint8Array(ENTRY_BYTES).fill(0x62);
  const start = performance.now();
  const end = start + seconds * 1000;
  for (let now = start; now < end; ) {
    await handle.write(block);
    await handle.datasync();
    const after = performance.now();
    phase.latencies.push(after - now);
    phase.entries++;
    phase.fsyncs++;
    now = after;
  }
  phase.seconds += (performance.now() - start) / 1000;
}

/** Raw fdatasync and batch-1 appends in alternating slices: the ratio the target is about. */
async function paired(dir: string, seconds: number): Promise<[Result, Result, Result, Result]> {
  const raw = new Phase('raw append+fdatasync (sync loop)');
  const rawAsync = new Phase('  same, async via thread pool');
  const wal1 = new Phase('wal batch 1');
  const level1 = new Phase('level batch 1');
  const fd = openSync(join(dir, 'raw.dat'), 'a');
  const handle = await open(join(dir, 'raw-async.dat'), 'a');
  const wal = await openLog('wal', join(dir, 'wal-batch-1'));
  const level = await openLog('level', join(dir, 'level-batch-1'));
  const slices = 12;
  for (let i = 0; i < slices; i++) {
    // Rotate the order so that no phase always follows the same one.
    const steps = [
      (): void => rawSlice(fd, raw, seconds / slices),
      (): Promise<void> => rawAsyncSlice(handle, rawAsync, seconds / slices),
      (): Promise<void> => sequentialSlice(wal, 1, wal1, seconds / slices),
      (): Promise<void> => sequentialSlice(level, 1, level1, seconds / slices),
    ];
    for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
  }
  closeSync(fd);
  await handle.close();
  await wal.close();
  await level.close();
  return [raw.result(), rawAsync.result(), wal1.result(), level1.result()];
}

async function concurrent(engine: Engine, dir: string, writers: number, seconds: number): Promise<Result> {
  const log = await openLog(engine, join(dir, `${engine}-concurrent-${writers}`));
  let next = 1;
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  const writer = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      // Indexes are taken when write() is called; calls are applied in call order, so they fit.
      await log.write({ hardState: null, entries: [entryAt(next++)] });
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = (performance.now() - start) / 1000;
  const { flushes } = log.stats();
  await log.close();
  return summarize(`${engine} group commit, ${writers} writers x 1`, latencies, next - 1, flushes, elapsed);
}

function row(r: Result): string {
  const n = (x: number, w: number): string => x.toFixed(0).padStart(w);
  const ms = (x: number): string => x.toFixed(3).padStart(8);
  return `${r.name.padEnd(38)} ${n(r.entriesPerSec, 10)} ${n(r.writesPerSec, 9)} ${n(r.fsyncsPerSec, 8)} ${ms(r.p50Ms)} ${ms(r.p99Ms)}`;
}

async function main(): Promise<void> {
  const base = arg('dir', tmpdir());
  const seconds = Number(arg('seconds', '3'));
  const dir = await mkdtemp(join(base, 'conflux-bench-'));
  try {
    console.log(`dir ${dir}, ${seconds} s per phase, entries of ${ENTRY_BYTES} bytes`);
    console.log(`${'phase'.padEnd(38)} ${'entries/s'.padStart(10)} ${'writes/s'.padStart(9)} ${'fsyncs/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    const results: Result[] = [];
    const run = async (r: Result | Promise<Result>): Promise<Result> => {
      const done = await r;
      results.push(done);
      console.log(row(done));
      return done;
    };
    const [raw, rawAsync, batch1, level1] = await paired(dir, seconds * 3);
    await run(raw);
    await run(rawAsync);
    await run(batch1);
    await run(level1);
    for (const batch of [16, 64, 256]) for (const engine of ENGINES) await run(sequential(engine, dir, batch, seconds));
    const group = await run(concurrent('wal', dir, 64, seconds));
    await run(concurrent('level', dir, 64, seconds));
    const ratio = batch1.writesPerSec / raw.writesPerSec;
    console.log(`wal batch 1 vs raw fdatasync: ${(ratio * 100).toFixed(1)}% (target >= 80%) ${ratio >= 0.8 ? 'OK' : 'MISSED'}`);
    console.log(`wal batch 1 vs the async raw loop: ${((batch1.writesPerSec / rawAsync.writesPerSec) * 100).toFixed(1)}%`);
    console.log(`wal group commit: ${group.entriesPerSec.toFixed(0)} entries/s (target >= 20000) ${group.entriesPerSec >= 20_000 ? 'OK' : 'MISSED'}`);
    console.log(JSON.stringify({ results, batch1VsRaw: ratio }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
