// The benchmark's results: their JSON shape, the Markdown table and the plot. Pure functions of
// the report, so that they can be tested and re-rendered from a saved JSON.
import type { DiskResult } from './disk.js';
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
export function loadRange(runs: { load1: number }[]): string {
  if (runs.length === 0) return 'n/a';
  const loads = runs.map((r) => r.load1);
  const lo = Math.min(...loads);
  const hi = Math.max(...loads);
  return lo === hi ? lo.toFixed(1) : `${lo.toFixed(1)}-${hi.toFixed(1)}`;
}

export function renderMarkdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(`Mode \`${r.mode}\`, ${r.startedAt} to ${r.finishedAt}; ${r.machine.cpus} CPUs (${r.machine.cpuModel}), Node ${r.machine.node}, etcd ${r.machine.etcd}, Conflux ${r.machine.commit}.`);
  lines.push(`Load average before/after: ${r.machine.loadBefore.join(' ')} / ${r.machine.loadAfter.join(' ')}. Medians of ${r.runsPerPoint} runs per point (Conflux and etcd alternating), ${r.warmupMs / 1000} s warm-up + ${r.durationMs / 1000} s measured each.`);
  if (r.disk) {
    lines.push(`Raw disk limit (256-byte append + fdatasync, one at a time): **${n(r.disk.appendsPerSec)} /s**, p50 ${ms(r.disk.p50Ms)} ms, p99 ${ms(r.disk.p99Ms)} ms.`);
  }
  lines.push('');
  lines.push('| nodes | workload | Conflux ops/s | etcd ops/s | ratio | Conflux p50 / p99 ms | etcd p50 / p99 ms | p99 ratio | server CPU µs/op C / E | errors C / E | load (1 min) |');
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
    lines.push('Watch fan-out (delay from a write\'s acknowledgement to its delivery at each watcher):');
    lines.push('');
    lines.push('| nodes | watchers | writes/s | watched events/s | Conflux p50 / p99 ms | etcd p50 / p99 ms | missing C / E | server CPU cores C / E |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const f of r.fanout) {
      const c = f.median.conflux;
      const e = f.median.etcd;
      lines.push(
        `| ${f.size} | ${n(f.watchers)} | ${n(c.writesPerSec)} / ${n(e.writesPerSec)} | ${n(c.watchedEventsPerSec)} | ${ms(c.p50Ms)} / ${ms(c.p99Ms)} | ${ms(e.p50Ms)} / ${ms(e.p99Ms)} | ${c.missing} / ${e.missing} | ${c.serverCpuCores.toFixed(2)} / ${e.serverCpuCores.toFixed(2)} |`,
      );
    }
  }
  lines.push('');
  return lines.join('\n');
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
