import { describe, expect, it } from 'vitest';
import type { LoadResult } from '../bench/lib/loadgen.js';
import { checkTargets, loadRange, pointName, ratio, renderMarkdown, renderReportPlot, type BenchReport } from '../bench/lib/report.js';
import { escapeXml, logTicks, niceTicks, renderPlot } from '../bench/lib/svg-plot.js';

function load(throughput: number, p99Ms: number): LoadResult {
  return {
    requests: throughput * 5,
    errors: 0,
    seconds: 5,
    throughput,
    latency: { p50Ms: p99Ms / 4, p90Ms: p99Ms / 2, p99Ms, p999Ms: p99Ms * 1.5, maxMs: p99Ms * 2, meanMs: p99Ms / 3 },
    serverCpuCores: 1,
    clientCpuCores: 0.3,
    serverCpuUsPerRequest: 1e6 / throughput,
    maxServerCpuCores: 0.8,
    load1: 2,
    errorSamples: [],
  };
}

function report(): BenchReport {
  const points = [1, 3].flatMap((size) =>
    [1, 64].flatMap((concurrency) =>
      (['leader', 'spread'] as const).map((target) => ({
        spec: { size, workload: 'write' as const, concurrency, target, valueBytes: 256 },
        runs: { conflux: [load(1000 * concurrency, 2)], etcd: [load(500 * concurrency, 4)] },
        median: { conflux: load(1000 * concurrency, 2), etcd: load(500 * concurrency, 4) },
      })),
    ),
  );
  return {
    mode: 'test',
    startedAt: 'a',
    finishedAt: 'b',
    runsPerPoint: 1,
    warmupMs: 1000,
    durationMs: 5000,
    machine: { cpus: 2, cpuModel: 'cpu', node: 'v20', etcd: '3.4', commit: 'abc', loadBefore: [1, 1, 1], loadAfter: [2, 2, 2] },
    disk: { appendsPerSec: 1800, p50Ms: 0.3, p99Ms: 4, seconds: 5 },
    points,
    fanout: [],
  };
}

describe('niceTicks', () => {
  it('covers the range with steps of 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks(9.5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(23_000)).toEqual([0, 5000, 10_000, 15_000, 20_000, 25_000]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });
});

describe('logTicks', () => {
  it('gives 1-2-5 ticks per decade inside the range', () => {
    expect(logTicks(1, 100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(0.1, 1)).toEqual([0.1, 0.2, 0.5, 1]);
  });
});

describe('renderPlot', () => {
  it('draws one panel per entry and one polyline per non-empty series, escaping text', () => {
    const svg = renderPlot({
      title: 'a < b & c',
      xLabel: 'x',
      yLabel: 'y',
      panels: [
        { title: 'p1', series: [{ name: 's1', color: 'red', points: [{ x: 1, y: 1 }, { x: 2, y: 10, label: 'C=2' }] }, { name: 'empty', color: 'blue', points: [] }] },
        { title: 'p2', series: [{ name: 's1', color: 'red', dashed: true, points: [{ x: 5, y: 3 }] }] },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<g class="panel">/g)).toHaveLength(2);
    expect(svg.match(/<polyline class="series"/g)).toHaveLength(2);
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('stroke-dasharray');
    expect(svg).not.toContain('NaN');
  });

  it('puts higher latency higher up (smaller y) and more throughput further right', () => {
    const svg = renderPlot({ title: 't', xLabel: 'x', yLabel: 'y', panels: [{ title: 'p', series: [{ name: 's', color: 'red', points: [{ x: 100, y: 1 }, { x: 200, y: 100 }] }] }] });
    const [a, b] = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
    expect(b!.x).toBeGreaterThan(a!.x);
    expect(b!.y).toBeLessThan(a!.y);
  });

  it('escapes XML', () => {
    expect(escapeXml('<"&">')).toBe('&lt;&quot;&amp;&quot;&gt;');
  });
});

describe('report rendering', () => {
  it('writes one table row per point with the ratio against etcd', () => {
    const md = renderMarkdown(report());
    const rows = md.split('\n').filter((l) => l.startsWith('| 1 ') || l.startsWith('| 3 '));
    expect(rows).toHaveLength(8);
    expect(md).toContain('**2.00x**');
    expect(md).toContain('1,800 /s');
    // The machine's load over the point's runs ends every row.
    expect(rows.every((r) => r.endsWith('| 2.0 |'))).toBe(true);
  });

  it('checks the targets of issue 5 against the medians, met or not', () => {
    const r = report();
    // 3 nodes, 64 writers: 64,000/s vs 32,000/s (2.00x) and p99 2 vs 4 ms: met.
    const t = checkTargets(r);
    const w = t.find((x) => x.where === '3 nodes, 64 writers')!;
    expect([w.ratio, w.met]).toEqual(['2.00x, p99 0.50x', true]);
    // A single writer's p50 0.5 ms vs etcd's 1 ms: met; the 1-node floor of 1,000 writes/s: met.
    expect(t.find((x) => x.target.startsWith('single writer') && x.where === '1 node')!.met).toBe(true);
    expect(t.find((x) => x.target.includes('1,000 writes/s'))!.met).toBe(true);
    // Conflux slower than etcd: the same row says no.
    const slow = report();
    for (const p of slow.points) p.median.conflux = { ...p.median.etcd, throughput: p.median.etcd.throughput * 1.2 };
    const w2 = checkTargets(slow).find((x) => x.where === '3 nodes, 64 writers')!;
    expect([w2.ratio, w2.met]).toEqual(['1.20x, p99 1.00x', false]);
    expect(renderMarkdown(slow)).toContain('| **no** |');
  });

  it('gives the load as a range when it moved between runs', () => {
    expect(loadRange([{ load1: 3.04 }, { load1: 12.5 }, { load1: 7 }])).toBe('3.0-12.5');
    expect(loadRange([])).toBe('n/a');
    expect(loadRange([{ load1: 20, cpuPressure: 97.6 }, { load1: 22, cpuPressure: 99 }])).toBe('20.0-22.0 (98-99 %)');
  });

  it('plots writes per cluster size, with spread series only for more than one node', () => {
    const svg = renderReportPlot(report());
    expect(svg.match(/<g class="panel">/g)).toHaveLength(2);
    // 1 node: conflux + etcd to leader; 3 nodes: leader and spread for both.
    expect(svg.match(/<polyline class="series"/g)).toHaveLength(6);
  });

  it('puts the raw fan-out floor next to the watch delays, and judges the 5,000-watcher target', () => {
    const r = report();
    const fan = (p99Ms: number, writesPerSec: number) => ({
      watchers: 5000, writesPerSec, watchedEventsPerSec: 10, writesAcked: 5000, writeErrors: 0, watchedWrites: 50,
      deliveries: 250_000, missing: 0, p50Ms: p99Ms / 4, p90Ms: p99Ms / 2, p99Ms, maxMs: p99Ms * 2,
      setupSeconds: 2, serverCpuCores: 1.2, clientCpuCores: 0.6,
    });
    const floor = { watchers: 5000, servers: 3, eventsPerSec: 10, deliveries: 250_000, missing: 0, p50Ms: 52, p99Ms: 151, maxMs: 190, readerCpuCores: 0.65 };
    r.fanout.push({ size: 3, watchers: 5000, runs: { conflux: [], etcd: [] }, median: { conflux: fan(40, 990), etcd: fan(1400, 281) }, floor });
    const md = renderMarkdown(r);
    expect(md).toContain('| 3 | 5,000 | 990 / 281 | 10 | 10.0 / 40.0 | 350 / 1,400 | 52.0 / 151 |');
    expect(checkTargets(r).find((t) => t.target.startsWith('watch'))!.met).toBe(true);
    // A report written before the floor existed still renders; a slow writer misses the target.
    delete r.fanout[0]!.floor;
    r.fanout[0]!.median.conflux = fan(40, 800);
    expect(renderMarkdown(r)).toContain('| 350 / 1,400 | n/a |');
    expect(checkTargets(r).find((t) => t.target.startsWith('watch'))!.met).toBe(false);
  });

  it('names points and ratios', () => {
    expect(pointName({ size: 3, workload: 'write', concurrency: 1, target: 'leader', valueBytes: 65536 })).toBe('write 64 KiB, 1 client, to leader');
    expect(pointName({ size: 3, workload: 'read-serializable', concurrency: 64, target: 'spread', valueBytes: 256 })).toBe('read serializable, 64 clients, spread');
    expect(ratio(3, 2)).toBe('1.50x');
    expect(ratio(3, 0)).toBe('n/a');
  });
});
