// Closed-loop HTTP load generator: `concurrency` workers, each with one request in flight at a
// time over its own keep-alive connection, for a warm-up and then a measured window. Reports
// throughput, latency percentiles, errors, and the CPU used in the window by the servers
// (/proc/PID/stat) and by this process (process.cpuUsage). The connections are raw-http.ts's
// minimal client by default (a fraction of node:http's CPU per request), or an http.Agent.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { cpuPressure, loadAverage, processCpuMs } from './procs.js';
import { RawConnection } from './raw-http.js';
import { round, Samples, summarizeLatencies, type LatencySummary } from './stats.js';

export interface Target {
  host: string;
  port: number;
}

export interface Req {
  target: Target;
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  body?: Buffer | string;
}

export interface Res {
  status: number;
  body: Buffer;
}

export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** The next request of worker `w` (0 <= w < concurrency). */
  next: (w: number) => Req;
  /** Success test; default: a 2xx status. */
  ok?: (res: Res) => boolean;
  timeoutMs?: number;
  /** Server processes whose CPU is measured over the window. */
  serverPids: number[];
  /** 'raw' (default): raw-http.ts connections; 'node': node:http with a keep-alive Agent. */
  client?: 'raw' | 'node';
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  latency: LatencySummary;
  /** CPU cores used on average over the window: servers together, and this generator. */
  serverCpuCores: number;
  clientCpuCores: number;
  /** Server CPU time per successful request, in microseconds. */
  serverCpuUsPerRequest: number;
  /** Busiest server's share (cores): the leader under writes. */
  maxServerCpuCores: number;
  /** The machine's 1-minute load average at the end of the run (other work on the box). */
  load1: number;
  /** CPU pressure at the end of the run (% of the last 10 s with a task waiting for a CPU), if known. */
  cpuPressure?: number | null;
  /** A few error descriptions (status and body start), for the log. */
  errorSamples: string[];
}

export function request(agent: http.Agent, r: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': Buffer.byteLength(r.body) };
    const req = http.request({ host: r.target.host, port: r.target.port, method: r.method, path: r.path, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

const is2xx = (res: Res): boolean => res.status >= 200 && res.status < 300;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency, maxFreeSockets: o.concurrency });
  const ok = o.ok ?? is2xx;
  const timeoutMs = o.timeoutMs ?? 15_000;
  const latencies = new Samples();
  const errorSamples: string[] = [];
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
  let requests = 0;
  let errors = 0;

  const raw = (o.client ?? 'raw') === 'raw';
  const connections: RawConnection[] = [];
  const worker = async (w: number): Promise<void> => {
    const mine = new Map<string, RawConnection>();
    const connectionTo = (t: Target): RawConnection => {
      const k = `${t.host}:${t.port}`;
      let c = mine.get(k);
      if (c === undefined) {
        c = new RawConnection(t);
        mine.set(k, c);
        connections.push(c);
      }
      return c;
    };
    while (phase !== 'stop') {
      const r = o.next(w);
      const t0 = performance.now();
      let good = false;
      let why = '';
      try {
        const res = raw ? await connectionTo(r.target).request(r, timeoutMs) : await request(agent, r, timeoutMs);
        good = ok(res);
        if (!good) why = `${res.status} ${res.body.subarray(0, 160).toString('utf8')}`;
      } catch (err) {
        why = (err as Error).message;
      }
      const t1 = performance.now();
      if (phase !== 'measure') continue;
      if (good) {
        requests++;
        latencies.push(t1 - t0);
      } else {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(why);
        // A refusing server answers fast: do not spin on it.
        await new Promise((res) => setTimeout(res, 5));
      }
    }
  };

  const workers = Array.from({ length: o.concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, o.warmupMs));
  const cpuBefore = o.serverPids.map((pid) => processCpuMs(pid) ?? 0);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  phase = 'measure';
  await new Promise((r) => setTimeout(r, o.durationMs));
  phase = 'stop';
  const seconds = (performance.now() - start) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  const cpuAfter = o.serverPids.map((pid) => processCpuMs(pid) ?? 0);
  await Promise.all(workers);
  agent.destroy();
  for (const c of connections) c.close();

  const perServer = cpuAfter.map((a, i) => (a - cpuBefore[i]!) / 1000 / seconds);
  const serverCores = perServer.reduce((s, x) => s + x, 0);
  return {
    requests,
    errors,
    seconds: round(seconds, 3),
    throughput: round(requests / seconds, 1),
    latency: roundLatency(summarizeLatencies(latencies.view())),
    serverCpuCores: round(serverCores, 3),
    clientCpuCores: round((clientCpu.user + clientCpu.system) / 1e6 / seconds, 3),
    serverCpuUsPerRequest: requests === 0 ? 0 : round((serverCores * seconds * 1e6) / requests, 1),
    maxServerCpuCores: round(Math.max(0, ...perServer), 3),
    load1: loadAverage().load1,
    cpuPressure: cpuPressure(),
    errorSamples,
  };
}

export function roundLatency(l: LatencySummary): LatencySummary {
  return {
    p50Ms: round(l.p50Ms, 3),
    p90Ms: round(l.p90Ms, 3),
    p99Ms: round(l.p99Ms, 3),
    p999Ms: round(l.p999Ms, 3),
    maxMs: round(l.maxMs, 3),
    meanMs: round(l.meanMs, 3),
  };
}
