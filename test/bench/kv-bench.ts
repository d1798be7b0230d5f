// Conflux next to etcd on this machine (issue 5): writes, reads, large values and watch fan-out on
// clusters of 1, 3 and 5 nodes, all on 127.0.0.1, with the same closed-loop client.
//
//   make bench         the full run (about 25 minutes), results in bench/results/full.{json,md,svg}
//   make bench-quick   a few points on 3 nodes (under 3 minutes), bench/results/quick.*
//   node dist/test/bench/kv-bench.js --help
//
// Every process is started by this program and stopped by PID; data lives in temp directories that
// are removed at the end (also on Ctrl-C or an error).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { etcdBinary, etcdVersion, protocolOf, startConflux, startEtcd, type Cluster, type SystemName } from './lib/clusters.js';
import { rawDiskLimit } from './lib/disk.js';
import { request, runLoad, type LoadResult, type Req, type Target } from './lib/loadgen.js';
import { installCleanupHandlers, loadAverage, sleep, waitQuiet } from './lib/procs.js';
import { pointName, ratio, renderMarkdown, renderReportPlot, type BenchReport, type FanoutPoint, type PointResult, type PointSpec } from './lib/report.js';
import { medianRecord } from './lib/stats.js';
import { KEY_COUNT, keyName, nextUnique, ValueMaker } from './lib/values.js';
import { rawFanoutLimit, type FanoutFloorResult } from './lib/fanout-floor.js';
import { runFanout, type FanoutResult } from './lib/watch-fanout.js';
import http from 'node:http';

interface Args {
  mode: 'quick' | 'full';
  runs: number;
  warmupMs: number;
  durationMs: number;
  clusterWarmupMs: number;
  sizes: number[];
  out: string;
  profileDir: string | null;
  systems: SystemName[];
  points: string | null;
  fanout: boolean;
  confluxFlags: string[];
}

function usage(): string {
  return `usage: kv-bench [--mode quick|full] [--runs N] [--warmup S] [--duration S] [--cluster-warmup S] [--sizes 1,3,5]
                [--systems conflux,etcd] [--points REGEX] [--no-fanout] [--out DIR]
                [--profile DIR] [--conflux-flags "--flag v ..."]
  --warmup S          unmeasured seconds at the start of every run
  --cluster-warmup S  seconds of mixed load each cluster gets before its first point (default 4 quick, 10 full)
  --profile DIR       run Conflux nodes with node --cpu-prof, profiles written to DIR at the end`;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help')) {
    console.log(usage());
    process.exit(0);
  }
  const mode = (get('mode') ?? 'quick') as Args['mode'];
  if (mode !== 'quick' && mode !== 'full') throw new Error(usage());
  const quick = mode === 'quick';
  return {
    mode,
    runs: Number(get('runs') ?? 3),
    warmupMs: Number(get('warmup') ?? (quick ? 1 : 2)) * 1000,
    durationMs: Number(get('duration') ?? (quick ? 3 : 5)) * 1000,
    clusterWarmupMs: Number(get('cluster-warmup') ?? (quick ? 4 : 10)) * 1000,
    sizes: (get('sizes') ?? (quick ? '3' : '1,3,5')).split(',').map(Number),
    out: resolve(get('out') ?? 'bench/results'),
    profileDir: get('profile') ? resolve(get('profile')!) : null,
    systems: (get('systems') ?? 'conflux,etcd').split(',') as SystemName[],
    points: get('points') ?? null,
    fanout: !argv.includes('--no-fanout'),
    confluxFlags: (get('conflux-flags') ?? '').split(' ').filter(Boolean),
  };
}

function pointsFor(mode: Args['mode'], size: number): PointSpec[] {
  const w = (concurrency: number, target: PointSpec['target'], valueBytes = 256): PointSpec => ({ size, workload: 'write', concurrency, target, valueBytes });
  const r = (workload: PointSpec['workload']): PointSpec => ({ size, workload, concurrency: 64, target: 'leader', valueBytes: 256 });
  if (mode === 'quick') return [w(1, 'leader'), w(64, 'leader'), w(256, 'leader'), r('read-linearizable'), r('read-serializable')];
  const points: PointSpec[] = [1, 16, 64, 256].map((c) => w(c, 'leader'));
  if (size > 1) points.push(...[1, 16, 64, 256].map((c) => w(c, 'spread')));
  points.push(r('read-linearizable'), r('read-serializable'), w(16, 'leader', 64 * 1024));
  return points;
}

/** Fan-out: one write in this many goes under the watched prefix (10 watched events/s at 1,000 writes/s). */
const WATCHED_EVERY = 100;

function fanoutFor(mode: Args['mode'], size: number): number[] {
  if (size !== 3) return [];
  return mode === 'quick' ? [] : [1000, 5000];
}

async function prefill(cluster: Cluster): Promise<void> {
  const protocol = protocolOf(cluster.system);
  const leader = await cluster.leader();
  const values = new ValueMaker(256);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < KEY_COUNT) {
      const i = next++;
      const res = await request(agent, protocol.put(leader.target, keyName('bench/', i), values, nextUnique()), 15_000);
      if (res.status < 200 || res.status > 299) throw new Error(`prefill of ${cluster.system} answered ${res.status}: ${res.body.toString().slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  agent.destroy();
}

/**
 * What a cluster runs, unmeasured, before its first point: every kind of request the points send.
 * V8 compiles Conflux's request paths only after thousands of requests (on 3 nodes, a single
 * writer went from 160 to 500 writes/s over its first 18 s; a few seconds at 64 writers first cut
 * that to one slow window), so without it the first point of a size block measured a cold
 * process. etcd, compiled ahead of time, gets the same load for the same reason its caches do.
 */
const CLUSTER_WARMUP: ReadonlyArray<{ share: number; spec: Omit<PointSpec, 'size'> }> = [
  { share: 0.3, spec: { workload: 'write', concurrency: 64, target: 'leader', valueBytes: 256 } },
  { share: 0.2, spec: { workload: 'write', concurrency: 16, target: 'spread', valueBytes: 256 } },
  { share: 0.15, spec: { workload: 'read-serializable', concurrency: 64, target: 'leader', valueBytes: 256 } },
  { share: 0.15, spec: { workload: 'read-linearizable', concurrency: 64, target: 'leader', valueBytes: 256 } },
  { share: 0.2, spec: { workload: 'write', concurrency: 1, target: 'leader', valueBytes: 256 } },
];

async function warmUp(cluster: Cluster, a: Args): Promise<void> {
  for (const phase of CLUSTER_WARMUP) {
    const durationMs = Math.round(a.clusterWarmupMs * phase.share);
    if (durationMs > 0) await runPoint(cluster, { ...phase.spec, size: cluster.size }, { ...a, warmupMs: 0, durationMs });
  }
}

/** After a run: let the system finish its background work before anything else is measured. */
async function settle(cluster: Cluster): Promise<void> {
  const pids = cluster.members.map((m) => m.proc.pid);
  // Idle members use 1-3 % of a core each (heartbeats).
  const r = await waitQuiet(pids, { idleCores: 0.05 * pids.length, windowMs: 250, maxMs: 5000 });
  if (!r.quiet) console.log(`   (${cluster.system} still busy ${(r.waitedMs / 1000).toFixed(1)} s after the run; going on)`);
}

async function runPoint(cluster: Cluster, spec: PointSpec, a: Args): Promise<LoadResult> {
  const protocol = protocolOf(cluster.system);
  const leader = await cluster.leader();
  const targets: Target[] = spec.target === 'leader' ? [leader.target] : cluster.members.map((m) => m.target);
  const values = new ValueMaker(spec.valueBytes);
  const keyPrefix = spec.valueBytes >= 1024 ? 'bench/large/' : 'bench/';
  let i = 0;
  const next = (): Req => {
    const n = i++;
    // Spread: each request goes to the next member in turn. (By worker it was, so a single client
    // "spread" over 3 nodes sent everything to the first member, leader or not.)
    const target = targets[n % targets.length]!;
    const key = keyName(keyPrefix, (n * 7919) % KEY_COUNT);
    if (spec.workload === 'write') return protocol.put(target, key, values, nextUnique());
    return protocol.get(target, key, spec.workload === 'read-serializable');
  };
  return runLoad({
    concurrency: spec.concurrency,
    warmupMs: a.warmupMs,
    durationMs: a.durationMs,
    next,
    serverPids: cluster.members.map((m) => m.proc.pid),
    // etcd answers a missing key with 200 and no kvs; reads of the prefilled keys always find one.
    ok: (res) => res.status >= 200 && res.status < 300,
  });
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'node/src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

function describe(r: LoadResult): string {
  const l = r.latency;
  return `${r.throughput.toFixed(0).padStart(6)}/s p50 ${l.p50Ms.toFixed(2)} p99 ${l.p99Ms.toFixed(2)} max ${l.maxMs.toFixed(1)} ms, cpu srv ${r.serverCpuCores.toFixed(2)} cli ${r.clientCpuCores.toFixed(2)}${r.errors ? `, ${r.errors} errors (${r.errorSamples[0]})` : ''}, load ${r.load1}`;
}

async function main(): Promise<void> {
  installCleanupHandlers();
  const a = parseArgs(process.argv.slice(2));
  const etcdBin = etcdBinary();
  if (a.systems.includes('etcd') && !etcdBin) throw new Error('etcd is not installed: `make bench` installs Debian\'s etcd-server (or run test/bench/ensure-etcd.sh)');
  const started = new Date();
  const report: BenchReport = {
    mode: a.mode,
    startedAt: started.toISOString(),
    finishedAt: '',
    runsPerPoint: a.runs,
    warmupMs: a.warmupMs,
    durationMs: a.durationMs,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      node: process.version,
      etcd: etcdBin ? etcdVersion(etcdBin) : 'not run',
      commit: gitCommit(),
      loadBefore: Object.values(loadAverage()),
      loadAfter: [],
    },
    disk: null,
    points: [],
    fanout: [],
  };
  console.log(`bench ${a.mode}: sizes ${a.sizes.join(',')}, ${a.runs} runs/point, ${a.warmupMs / 1000}+${a.durationMs / 1000} s per run; load ${report.machine.loadBefore.join(' ')}`);
  report.disk = rawDiskLimit(a.mode === 'quick' ? 2 : 5);
  console.log(`raw disk: ${report.disk.appendsPerSec.toFixed(0)} appends+fdatasync/s, p50 ${report.disk.p50Ms} ms, p99 ${report.disk.p99Ms} ms`);

  const pointRe = a.points ? new RegExp(a.points) : null;
  for (const size of a.sizes) {
    const clusters = new Map<SystemName, Cluster>();
    try {
      for (const system of a.systems) {
        const t0 = Date.now();
        const c =
          system === 'conflux'
            ? await startConflux(size, { nodeArgs: a.profileDir ? ['--cpu-prof', '--cpu-prof-dir', a.profileDir] : [], flags: a.confluxFlags })
            : await startEtcd(size);
        clusters.set(system, c);
        await prefill(c);
        await warmUp(c, a);
        await settle(c);
        console.log(`${system} x${size} up, prefilled and warmed up in ${((Date.now() - t0) / 1000).toFixed(1)} s (pids ${c.members.map((m) => m.proc.pid).join(',')})`);
      }
      for (const spec of pointsFor(a.mode, size)) {
        if (pointRe && !pointRe.test(`${size} ${pointName(spec)}`)) continue;
        console.log(`-- ${size} node(s): ${pointName(spec)}`);
        const runs: Record<SystemName, LoadResult[]> = { conflux: [], etcd: [] };
        for (let k = 0; k < a.runs; k++) {
          // A B, then B A: a drift in the machine's load hits both alike.
          const order = k % 2 === 0 ? a.systems : [...a.systems].reverse();
          for (const system of order) {
            const r = await runPoint(clusters.get(system)!, spec, a);
            runs[system].push(r);
            console.log(`   ${system.padEnd(7)} run ${k + 1}: ${describe(r)}`);
            await settle(clusters.get(system)!);
          }
        }
        if (runs.conflux.length && runs.etcd.length) {
          const point: PointResult = { spec, runs, median: { conflux: medianRecord(runs.conflux), etcd: medianRecord(runs.etcd) } };
          report.points.push(point);
          const c = point.median.conflux;
          const e = point.median.etcd;
          console.log(`   median: conflux ${c.throughput.toFixed(0)}/s p99 ${c.latency.p99Ms} ms | etcd ${e.throughput.toFixed(0)}/s p99 ${e.latency.p99Ms} ms | throughput ${ratio(c.throughput, e.throughput)}, p99 ${ratio(c.latency.p99Ms, e.latency.p99Ms)}`);
        }
      }
      if (a.fanout && (!pointRe || pointRe.test('watch'))) {
        for (const watchers of fanoutFor(a.mode, size)) {
          console.log(`-- ${size} node(s): watch fan-out, ${watchers} watchers`);
          const runs: Record<SystemName, FanoutResult[]> = { conflux: [], etcd: [] };
          const floors: FanoutFloorResult[] = [];
          for (let k = 0; k < a.runs; k++) {
            // What the machine allows before either system does any work: one plain write per
            // watcher per event, from one process per member.
            const floor = await rawFanoutLimit({ watchers, servers: size, eventsPerSec: 1000 / WATCHED_EVERY, seconds: a.durationMs / 1000 });
            floors.push(floor);
            console.log(`   raw fan-out floor run ${k + 1}: delay p50 ${floor.p50Ms} p99 ${floor.p99Ms} max ${floor.maxMs} ms (${floor.missing} missing), reader cpu ${floor.readerCpuCores}`);
            await sleep(500);
            const order = k % 2 === 0 ? a.systems : [...a.systems].reverse();
            for (const system of order) {
              const r = await runFanout(clusters.get(system)!, protocolOf(system), {
                watchers,
                writesPerSec: 1000,
                watchedEvery: WATCHED_EVERY,
                durationMs: a.durationMs,
                valueBytes: 256,
                prefix: 'bench-watch/',
              });
              runs[system].push(r);
              console.log(`   ${system.padEnd(7)} run ${k + 1}: ${r.writesPerSec}/s written, ${r.deliveries} deliveries (${r.missing} missing), delay p50 ${r.p50Ms} p99 ${r.p99Ms} max ${r.maxMs} ms, setup ${r.setupSeconds} s, cpu srv ${r.serverCpuCores} cli ${r.clientCpuCores}`);
              await settle(clusters.get(system)!);
            }
          }
          if (runs.conflux.length && runs.etcd.length) {
            const f: FanoutPoint = { size, watchers, runs, median: { conflux: medianRecord(runs.conflux), etcd: medianRecord(runs.etcd) }, floor: medianRecord(floors) };
            report.fanout.push(f);
          }
        }
      }
    } finally {
      for (const c of clusters.values()) await c.stop();
    }
  }

  report.finishedAt = new Date().toISOString();
  report.machine.loadAfter = Object.values(loadAverage());
  mkdirSync(a.out, { recursive: true });
  const base = join(a.out, a.mode);
  writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + '\n');
  const md = renderMarkdown(report);
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.svg`, renderReportPlot(report));
  console.log(`\n${md}`);
  console.log(`results: ${base}.json, ${base}.md, ${base}.svg (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
