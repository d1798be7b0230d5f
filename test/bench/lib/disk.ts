// The raw disk limit: append 256 bytes and fdatasync, in a loop, in the directory where the
// clusters keep their data. One durable write at a time: what a store without group commit gets.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeTempDir, removeTempDir } from './procs.js';
import { round, Samples, summarizeLatencies } from './stats.js';

export interface DiskResult {
  appendsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
}

export function rawDiskLimit(seconds: number, bytes = 256): DiskResult {
  const dir = makeTempDir('bench-disk-');
  try {
    const fd = openSync(join(dir, 'raw.log'), 'a');
    const block = Buffer.alloc(bytes, 0x61);
    const lat = new Samples();
    const start = performance.now();
    const end = start + seconds * 1000;
    try {
      for (let now = start; now < end; ) {
        writeSync(fd, block);
        fdatasyncSync(fd);
        const after = performance.now();
        lat.push(after - now);
        now = after;
      }
    } finally {
      closeSync(fd);
    }
    const elapsed = (performance.now() - start) / 1000;
    const s = summarizeLatencies(lat.view());
    return { appendsPerSec: round(lat.length / elapsed, 1), p50Ms: round(s.p50Ms, 3), p99Ms: round(s.p99Ms, 3), seconds: round(elapsed, 2) };
  } finally {
    removeTempDir(dir);
  }
}
