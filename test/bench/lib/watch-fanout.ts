// Watch fan-out: `watchers` streams on one prefix, spread over the members; a writer at a steady
// rate, every `watchedEvery`-th write under the watched prefix and the others elsewhere. The delay
// of a delivery is the time from the write's acknowledgement (its HTTP answer reached the writer)
// to the event's arrival at a watcher; deliveries that arrive before the acknowledgement count as 0.
// Streams and writes use raw-http.ts (a fraction of node:http's CPU per event and per request):
// with 5,000 streams in this one process, node:http's per-event cost made the generator, not the
// servers, the source of most of the measured delay.
import { performance } from 'node:perf_hooks';
import type { Cluster, Protocol } from './clusters.js';
import type { Target } from './loadgen.js';
import { processCpuMs, sleep } from './procs.js';
import { openRawStream, RawConnection } from './raw-http.js';
import { round, Samples, summarizeLatencies } from './stats.js';
import { KEY_COUNT, keyName, nextUnique, ValueMaker } from './values.js';

export interface FanoutOptions {
  watchers: number;
  /** Writes per second in total. */
  writesPerSec: number;
  /** One write in this many goes under the watched prefix. */
  watchedEvery: number;
  durationMs: number;
  valueBytes: number;
  prefix: string;
}

export interface FanoutResult {
  watchers: number;
  writesPerSec: number;
  watchedEventsPerSec: number;
  writesAcked: number;
  writeErrors: number;
  watchedWrites: number;
  deliveries: number;
  missing: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  setupSeconds: number;
  serverCpuCores: number;
  clientCpuCores: number;
}

interface Stream {
  close(): void;
  revisions: number[];
  times: number[];
}

export async function runFanout(cluster: Cluster, protocol: Protocol, o: FanoutOptions): Promise<FanoutResult> {
  const leader = await cluster.leader();
  const targets: Target[] = cluster.members.map((m) => m.target);
  const streams: Stream[] = [];
  const setupStart = performance.now();
  try {
    // Open the watchers, a few hundred at a time, each counted once its stream says it is set up.
    for (let i = 0; i < o.watchers; i += 200) {
      const batch = Array.from({ length: Math.min(200, o.watchers - i) }, (_, k) => openStream(protocol, targets[(i + k) % targets.length]!, o.prefix));
      streams.push(...(await Promise.all(batch)));
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;
    await sleep(500);
    for (const s of streams) {
      s.revisions.length = 0;
      s.times.length = 0;
    }

    // One keep-alive connection per write in flight (at most 256), reused.
    const idle: RawConnection[] = [];
    const connections: RawConnection[] = [];
    const values = new ValueMaker(o.valueBytes);
    const ackAt = new Map<number, number>();
    let acked = 0;
    let errors = 0;
    let watchedWrites = 0;
    let inflight = 0;
    const pids = cluster.members.map((m) => m.proc.pid);
    const cpuBefore = pids.map((p) => processCpuMs(p) ?? 0);
    const clientBefore = process.cpuUsage();
    const start = performance.now();
    const intervalMs = 1000 / o.writesPerSec;
    let sent = 0;
    const pending: Promise<void>[] = [];
    // Open loop: write n is due at start + n * interval, whatever the answers' latency.
    while (performance.now() - start < o.durationMs) {
      const due = start + sent * intervalMs;
      const now = performance.now();
      if (now < due) {
        await sleep(Math.max(0, Math.min(5, due - now)));
        continue;
      }
      if (inflight >= 256) {
        await sleep(1);
        continue;
      }
      const n = sent++;
      const watched = n % o.watchedEvery === 0;
      const key = watched ? `${o.prefix}k${n % 100}` : keyName('bench/fanout/', n % KEY_COUNT);
      if (watched) watchedWrites++;
      inflight++;
      let conn = idle.pop();
      if (conn === undefined) {
        conn = new RawConnection(leader.target);
        connections.push(conn);
      }
      const c = conn;
      pending.push(
        c
          .request(protocol.put(leader.target, key, values, nextUnique()), 15_000)
          .then((res) => {
            const t = performance.now();
            if (res.status < 200 || res.status > 299) {
              errors++;
              return;
            }
            acked++;
            if (watched) ackAt.set(protocol.putRevision(res.body), t);
          })
          .catch(() => {
            errors++;
          })
          .finally(() => {
            inflight--;
            idle.push(c);
          }),
      );
    }
    await Promise.all(pending);
    const elapsed = (performance.now() - start) / 1000;
    // Let the last events arrive.
    const expected = ackAt.size;
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline && streams.some((s) => countKnown(s, ackAt) < expected)) await sleep(50);
    const clientCpu = process.cpuUsage(clientBefore);
    const cpuAfter = pids.map((p) => processCpuMs(p) ?? 0);
    for (const c of connections) c.close();

    const delays = new Samples();
    let deliveries = 0;
    for (const s of streams) {
      for (let i = 0; i < s.revisions.length; i++) {
        const ack = ackAt.get(s.revisions[i]!);
        if (ack === undefined) continue;
        deliveries++;
        delays.push(Math.max(0, s.times[i]! - ack));
      }
    }
    const lat = summarizeLatencies(delays.view());
    const seconds = (performance.now() - start) / 1000;
    const serverCores = cpuAfter.reduce((sum, a, i) => sum + (a - cpuBefore[i]!), 0) / 1000 / seconds;
    return {
      watchers: o.watchers,
      writesPerSec: round(acked / elapsed, 1),
      watchedEventsPerSec: round(expected / elapsed, 1),
      writesAcked: acked,
      writeErrors: errors,
      watchedWrites,
      deliveries,
      missing: expected * o.watchers - deliveries,
      p50Ms: round(lat.p50Ms, 3),
      p90Ms: round(lat.p90Ms, 3),
      p99Ms: round(lat.p99Ms, 3),
      maxMs: round(lat.maxMs, 3),
      setupSeconds: round(setupSeconds, 2),
      serverCpuCores: round(serverCores, 3),
      clientCpuCores: round((clientCpu.user + clientCpu.system) / 1e6 / seconds, 3),
    };
  } finally {
    for (const s of streams) s.close();
  }
}

function countKnown(s: Stream, acks: Map<number, number>): number {
  let n = 0;
  for (const r of s.revisions) if (acks.has(r)) n++;
  return n;
}

async function openStream(protocol: Protocol, target: Target, prefix: string): Promise<Stream> {
  const spec = protocol.watch(target, prefix);
  const parse = protocol.watchParser();
  let ready = false;
  let onReady: (() => void) | null = null;
  const stream: Stream = { close: () => undefined, revisions: [], times: [] };
  const onRevision = (rev: number): void => {
    stream.revisions.push(rev);
    stream.times.push(performance.now());
  };
  const raw = await openRawStream(
    spec,
    (chunk) => {
      if (!ready && protocol.watchReady(chunk)) {
        ready = true;
        onReady?.();
      }
      parse(chunk, onRevision);
    },
    30_000,
  );
  stream.close = () => raw.close();
  if (raw.status !== 200) {
    raw.close();
    throw new Error(`watch answered ${raw.status}`);
  }
  if (!ready && protocol.watchReady(Buffer.alloc(0))) ready = true;
  if (!ready) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        raw.close();
        reject(new Error('watch setup timed out'));
      }, 30_000);
      onReady = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return stream;
}
