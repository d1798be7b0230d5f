import { describe, expect, it } from 'vitest';
import { median, medianRecord, percentile, round, Samples, summarizeLatencies } from '../bench/lib/stats.js';
import { parseProcStatCpuMs } from '../bench/lib/procs.js';
import { PREFIX_BYTES, prefixEnd, ValueMaker, nextUnique, keyName } from '../bench/lib/values.js';

describe('percentile (nearest rank)', () => {
  it('picks the smallest sample with at least p of the samples at or below it', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(s, 0.5)).toBe(50);
    expect(percentile(s, 0.9)).toBe(90);
    expect(percentile(s, 0.99)).toBe(99);
    expect(percentile(s, 0.999)).toBe(100);
    expect(percentile(s, 1)).toBe(100);
    expect(percentile(s, 0)).toBe(1);
  });

  it('handles tiny and empty inputs', () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([1, 2], 0.5)).toBe(1);
    expect(percentile([1, 2], 0.51)).toBe(2);
  });

  it('agrees with a naive sort-and-count reference on random data', () => {
    let x = 12345;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 100;
    for (let round = 0; round < 50; round++) {
      const data = Array.from({ length: 1 + (round * 37) % 500 }, rnd);
      const sorted = [...data].sort((a, b) => a - b);
      for (const p of [0.5, 0.9, 0.99, 0.999]) {
        const v = percentile(sorted, p);
        const atOrBelow = sorted.filter((d) => d <= v).length;
        const below = sorted.filter((d) => d < v).length;
        expect(atOrBelow / sorted.length).toBeGreaterThanOrEqual(p);
        expect(below / sorted.length).toBeLessThan(p);
      }
    }
  });
});

describe('summarizeLatencies', () => {
  it('sorts numerically (not as strings) and does not touch its input', () => {
    const input = [10, 9, 100, 1, 2];
    const s = summarizeLatencies(input);
    expect(input).toEqual([10, 9, 100, 1, 2]);
    expect(s.p50Ms).toBe(9);
    expect(s.maxMs).toBe(100);
    expect(s.meanMs).toBeCloseTo(24.4);
  });
  it('is all zeros when empty', () => {
    expect(summarizeLatencies([])).toEqual({ p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 });
  });
});

describe('median and medianRecord', () => {
  it('takes the middle, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
  it('takes the median of every numeric field, nested ones included', () => {
    const runs = [
      { throughput: 10, latency: { p99Ms: 5 }, errorSamples: ['a'] },
      { throughput: 30, latency: { p99Ms: 1 }, errorSamples: [] },
      { throughput: 20, latency: { p99Ms: 9 }, errorSamples: [] },
    ];
    expect(medianRecord(runs)).toEqual({ throughput: 20, latency: { p99Ms: 5 }, errorSamples: ['a'] });
  });
});

describe('Samples', () => {
  it('grows past its initial capacity and keeps order', () => {
    const s = new Samples(2);
    for (let i = 0; i < 10; i++) s.push(i);
    expect(Array.from(s.view())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    s.clear();
    expect(s.view().length).toBe(0);
  });
});

describe('round', () => {
  it('rounds to the given decimals and leaves non-finite values alone', () => {
    expect(round(1.23456, 2)).toBe(1.23);
    expect(round(Infinity)).toBe(Infinity);
  });
});

describe('parseProcStatCpuMs', () => {
  it('adds utime and stime (fields 14 and 15), even with spaces and parentheses in the name', () => {
    const stat = '4242 (node (vitest 1)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 1000 0 0';
    expect(parseProcStatCpuMs(stat)).toBe(3000); // (250 + 50) ticks at 100/s
  });
});

describe('values', () => {
  it('are unique per write, of the requested size, and base64 matches the bytes', () => {
    const vm = new ValueMaker(256);
    const a = nextUnique();
    const b = nextUnique();
    expect(a).not.toBe(b);
    expect(a.length).toBe(PREFIX_BYTES);
    const bytes = vm.bytes(a);
    expect(bytes.length).toBe(256);
    expect(vm.base64(a)).toBe(bytes.toString('base64'));
    expect(vm.bytes(b).equals(bytes)).toBe(false);
  });
  it('names keys with a fixed width', () => {
    expect(keyName('bench/', 7)).toBe('bench/k000007');
  });
  it('computes the etcd range end of a prefix', () => {
    expect(prefixEnd('bench/').toString()).toBe('bench0');
    expect([...prefixEnd('a\u00ff')]).toEqual([0x61, 0xc3, 0xc0]);
    expect([...prefixEnd('')]).toEqual([0]);
  });
});
