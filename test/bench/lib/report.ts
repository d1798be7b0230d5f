// The benchmark's results: their JSON shape, the Markdown table and the plot. Pure functions of
// the report, so that they can be tested and re-rendered from a saved JSON.
import type { DiskResult } from './disk.js';
import type { FanoutFloorResult } from './fanout-floor.js';
import type { FanoutResult } from './watch-fanout.js';
import type { LoadResult } from './loadgen.js';
import { renderPlot, type Panel } from './svg-plot.js';

export type Workload = 'write' | 'read-linearizable' | 'read-serializable';

export interface PointSpec {
  size: number;
  workload: Workload;
  concurrency: number;
  /** Requests go to the leader, or round-robin over every member. */
  target: 'leader' | 'spread';
  valueBytes: number;
}

export interface PointResult {
  spec: PointSpec;
  runs: { conflux: LoadResult[]; etcd: LoadResult[] };
  median: { conflux: LoadResult; etcd: LoadResult };
}

export interface FanoutPoint {
  size: number;
  watchers: number;
  runs: { conflux: FanoutResult[]; etcd: FanoutResult[] };
  median: { conflux: FanoutResult; etcd: FanoutResult };
  /** The raw fan-out limit at the same watcher count (median of the runs); absent in old reports. */
  floor?: FanoutFloorResult;
}

export interface BenchReport {
  mode: string;
  startedAt: string;
  finishedAt: string;
  runsPerPoint: number;
  warmupMs: number;
  durationMs: number;
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    etcd: string;
    commit: string;
    loadBefore: number[];
    loadAfter: number[];
  };
  disk: DiskResult | null;
  points: PointResult[];
  fanout: FanoutPoint[];
}

export function pointName(s: PointSpec): string {
  const what = s.workload === 'write' ? (s.valueBytes >= 1024 ? `write ${s.valueBytes / 1024} KiB` : 'write') : s.workload.replace('read-', 'read ');
  return `${what}, ${s.concurrency} client${s.concurrency === 1 ? '' : 's'}, ${s.target === 'leader' ? 'to leader' : 'spread'}`;
}

function n(v: number, digits = 0): string {
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function ms(v: number): string {
  return v >= 100 ? n(v, 0) : v >= 10 ? n(v, 1) : n(v, 2);
}

export function ratio(a: number, b: number): string {
  if (!(b > 0)) return 'n/a';
  return `${(a / b).toFixed(2)}x`;
}

/** The machine's 1-minute load average over a point's runs (other work on the box), "min-max". */
export function loadRange(runs: { load1: number; cpuPressure?: number | null }[]): string {
  if (runs.length === 0) return 'n/a';
  const range = (xs: number[], digits: number): string => {
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    return lo === hi ? lo.toFixed(digits) : `${lo.toFixed(digits)}-${hi.toFixed(digits)}`;
  };
  const pressures = runs.map((r) => r.cpuPressure).filter((p): p is number => typeof p === 'number');
  const load = range(runs.map((r) => r.load1), 1);
  return pressures.length === 0 ? load : `${load} (${range(pressures, 0)} %)`;
}

export function renderMarkdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(`Mode \`${r.mode}\`, ${r.startedAt} to ${r.finishedAt}; ${r.machine.cpus} CPUs (${r.machine.cpuModel}), Node ${r.machine.node}, etcd ${r.machine.etcd}, Conflux ${r.machine.commit}.`);
  lines.push(`Load average before/after: ${r.machine.loadBefore.join(' ')} / ${r.machine.loadAfter.join(' ')}. Medians of ${r.runsPerPoint} runs per point (Conflux and etcd alternating), ${r.warmupMs / 1000} s warm-up + ${r.durationMs / 1000} s measured each.`);
  if (r.disk) {
    lines.push(`Raw disk limit (256-byte append + fdatasync, one at a time): **${n(r.disk.appendsPerSec)} /s**, p50 ${ms(r.disk.p50Ms)} ms, p99 ${ms(r.disk.p99Ms)} ms.`);
  }
  lines.push('');
  lines.push('| nodes | workload | Conflux ops/s | etcd ops/s | ratio | Conflux p50 / p99 ms | etcd p50 / p99 ms | p99 ratio | server CPU µs/op C / E | errors C / E | load (1 min) (CPU pressure) |');
  lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const p of r.points) {
    const c = p.median.conflux;
    const e = p.median.etcd;
    const errC = p.runs.conflux.reduce((s, x) => s + x.errors, 0);
    const errE = p.runs.etcd.reduce((s, x) => s + x.errors, 0);
    lines.push(
      `| ${p.spec.size} | ${pointName(p.spec)} | ${n(c.throughput)} | ${n(e.throughput)} | **${ratio(c.throughput, e.throughput)}** | ${ms(c.latency.p50Ms)} / ${ms(c.latency.p99Ms)} | ${ms(e.latency.p50Ms)} / ${ms(e.latency.p99Ms)} | ${ratio(c.latency.p99Ms, e.latency.p99Ms)} | ${n(c.serverCpuUsPerRequest)} / ${n(e.serverCpuUsPerRequest)} | ${errC} / ${errE} | ${loadRange([...p.runs.conflux, ...p.runs.etcd])} |`,
    );
  }
  if (r.fanout.length > 0) {
    lines.push('');
    lines.push('Watch fan-out (delay from a write\'s acknowledgement to its delivery at each watcher). The raw floor: plain Node processes, one per member, writing each event to each of their loopback connections, delay from the fan-out\'s start (test/bench/lib/fanout-floor.ts):');
    lines.push('');
    lines.push('| nodes | watchers | writes/s | watched events/s | Conflux p50 / p99 ms | etcd p50 / p99 ms | raw floor p50 / p99 ms | missing C / E | server CPU cores C / E |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const f of r.fanout) {
      const c = f.median.conflux;
      const e = f.median.etcd;
      lines.push(
        `| ${f.size} | ${n(f.watchers)} | ${n(c.writesPerSec)} / ${n(e.writesPerSec)} | ${n(c.watchedEventsPerSec)} | ${ms(c.p50Ms)} / ${ms(c.p99Ms)} | ${ms(e.p50Ms)} / ${ms(e.p99Ms)} | ${f.floor ? `${ms(f.floor.p50Ms)} / ${ms(f.floor.p99Ms)}` : 'n/a'} | ${c.missing} / ${e.missing} | ${c.serverCpuCores.toFixed(2)} / ${e.serverCpuCores.toFixed(2)} |`,
      );
    }
  }
  lines.push('');
  lines.push('Targets of issue 5 (medians above; seed floors: writes/s at 64 writers, p99 at one writer):');
  lines.push('');
  lines.push(renderTargets(r));
  return lines.join('\n');
}

export interface TargetCheck {
  target: string;
  where: string;
  conflux: string;
  etcd: string;
  ratio: string;
  met: boolean;
}

/** The seed's floors per cluster size: write p99 (ms, at one writer) and writes/s (at 64 writers). */
const FLOORS: Record<number, { p99Ms: number; writesPerSec: number }> = { 1: { p99Ms: 10, writesPerSec: 1000 }, 3: { p99Ms: 50, writesPerSec: 500 }, 5: { p99Ms: 100, writesPerSec: 300 } };

/** Issue 5's targets, each checked against the medians of this report (those it has points for). */
export function checkTargets(r: BenchReport): TargetCheck[] {
  const out: TargetCheck[] = [];
  const find = (size: number, workload: Workload, concurrency: number): PointResult | undefined =>
    r.points.find((p) => p.spec.size === size && p.spec.workload === workload && p.spec.concurrency === concurrency && p.spec.target === 'leader' && p.spec.valueBytes < 1024);
  const sizes = [...new Set(r.points.map((p) => p.spec.size))].sort((a, b) => a - b);
  for (const size of sizes) {
    for (const c of [64, 256]) {
      const p = find(size, 'write', c);
      if (!p || size === 1) continue;
      const C = p.median.conflux;
      const E = p.median.etcd;
      out.push({
        target: 'writes: >= 1.5x etcd, p99 <= etcd',
        where: `${size} nodes, ${c} writers`,
        conflux: `${n(C.throughput)}/s, p99 ${ms(C.latency.p99Ms)} ms`,
        etcd: `${n(E.throughput)}/s, p99 ${ms(E.latency.p99Ms)} ms`,
        ratio: `${ratio(C.throughput, E.throughput)}, p99 ${ratio(C.latency.p99Ms, E.latency.p99Ms)}`,
        met: C.throughput >= 1.5 * E.throughput && C.latency.p99Ms <= E.latency.p99Ms,
      });
    }
    const one = find(size, 'write', 1);
    if (one) {
      const C = one.median.conflux.latency;
      const E = one.median.etcd.latency;
      out.push({ target: 'single writer: p50 <= etcd', where: `${size} node${size === 1 ? '' : 's'}`, conflux: `p50 ${ms(C.p50Ms)} ms`, etcd: `p50 ${ms(E.p50Ms)} ms`, ratio: ratio(C.p50Ms, E.p50Ms), met: C.p50Ms <= E.p50Ms });
    }
    for (const [workload, factor] of [['read-linearizable', 2], ['read-serializable', 3]] as const) {
      const p = find(size, workload, 64);
      if (!p) continue;
      const C = p.median.conflux.throughput;
      const E = p.median.etcd.throughput;
      out.push({ target: `${workload.replace('read-', '')} reads at 64: >= ${factor}x etcd`, where: `${size} node${size === 1 ? '' : 's'}`, conflux: `${n(C)}/s`, etcd: `${n(E)}/s`, ratio: ratio(C, E), met: C >= factor * E });
    }
    const floor = FLOORS[size];
    const w64 = find(size, 'write', 64);
    if (floor && w64) {
      const C = w64.median.conflux.throughput;
      out.push({ target: `seed floor: > ${n(floor.writesPerSec)} writes/s`, where: `${size} node${size === 1 ? '' : 's'}, 64 writers`, conflux: `${n(C)}/s`, etcd: `${n(w64.median.etcd.throughput)}/s`, ratio: ratio(C, floor.writesPerSec) + ' of floor', met: C > floor.writesPerSec });
    }
    if (floor && one) {
      const C = one.median.conflux.latency.p99Ms;
      out.push({ target: `seed floor: write p99 < ${floor.p99Ms} ms`, where: `${size} node${size === 1 ? '' : 's'}, 1 writer`, conflux: `p99 ${ms(C)} ms`, etcd: `p99 ${ms(one.median.etcd.latency.p99Ms)} ms`, ratio: ratio(C, floor.p99Ms) + ' of floor', met: C < floor.p99Ms });
    }
  }
  for (const f of r.fanout.filter((x) => x.watchers === 5000)) {
    const C = f.median.conflux;
    out.push({
      target: 'watch: 5,000 watchers, p99 < 50 ms at 1,000 writes/s',
      where: `${f.size} nodes`,
      conflux: `p99 ${ms(C.p99Ms)} ms at ${n(C.writesPerSec)} writes/s`,
      etcd: `p99 ${ms(f.median.etcd.p99Ms)} ms at ${n(f.median.etcd.writesPerSec)} writes/s`,
      ratio: ratio(C.p99Ms, f.median.etcd.p99Ms),
      met: C.p99Ms < 50 && C.writesPerSec >= 950,
    });
  }
  return out;
}

export function renderTargets(r: BenchReport): string {
  const rows = checkTargets(r);
  const lines = ['| target | where | Conflux | etcd | Conflux / etcd | met |', '|---|---|---:|---:|---:|:---:|'];
  for (const t of rows) lines.push(`| ${t.target} | ${t.where} | ${t.conflux} | ${t.etcd} | ${t.ratio} | ${t.met ? 'yes' : '**no**'} |`);
  return lines.join('\n') + '\n';
}

const COLORS = { conflux: '#1f77b4', etcd: '#d62728' };

/** Throughput vs p99 of the write points, one panel per cluster size. */
export function renderReportPlot(r: BenchReport): string {
  const sizes = [...new Set(r.points.map((p) => p.spec.size))].sort((a, b) => a - b);
  const panels: Panel[] = sizes.map((size) => {
    const writes = r.points.filter((p) => p.spec.size === size && p.spec.workload === 'write' && p.spec.valueBytes < 1024);
    const series: Panel['series'] = [];
    for (const target of ['leader', 'spread'] as const) {
      const pts = writes.filter((p) => p.spec.target === target);
      if (pts.length === 0 || (target === 'spread' && size === 1)) continue;
      for (const system of ['conflux', 'etcd'] as const) {
        series.push({
          name: `${system === 'conflux' ? 'Conflux' : 'etcd'} writes ${target === 'leader' ? 'to leader' : 'spread'}`,
          color: COLORS[system],
          dashed: target === 'spread',
          points: pts.map((p) => ({ x: p.median[system].throughput, y: p.median[system].latency.p99Ms, label: `C=${p.spec.concurrency}` })),
        });
      }
    }
    return { title: `${size} node${size === 1 ? '' : 's'}`, series };
  });
  return renderPlot({
    title: 'Writes (256 B values): throughput vs p99 latency, Conflux and etcd on the same machine',
    xLabel: 'writes/s',
    yLabel: 'p99 latency (ms, log)',
    panels,
  });
}
