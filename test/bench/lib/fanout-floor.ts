// The raw fan-out limit, next to the watch fan-out figures as the raw disk limit is next to the
// write figures: plain Node processes that do nothing but write one ~300-byte message to each of
// their open loopback TCP connections, `eventsPerSec` times a second, and this process reading
// all of them. The delay from a fan-out's start to each arrival is what one socket write per
// watcher per event costs on this machine before any HTTP, store or Raft work.
//
// The servers are child processes (this file run as a script), one per cluster member, so that
// the kernel's loopback work and the reader's share of the CPUs are those of the real bench.
import { fork, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sleep } from './procs.js';
import { round, Samples, summarizeLatencies } from './stats.js';

export interface FanoutFloorOptions {
  watchers: number;
  servers: number;
  eventsPerSec: number;
  seconds: number;
  messageBytes?: number;
}

export interface FanoutFloorResult {
  watchers: number;
  servers: number;
  eventsPerSec: number;
  deliveries: number;
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  readerCpuCores: number;
}

type ToServer = { kind: 'start'; at: number; eventsPerSec: number; seconds: number; messageBytes: number };
type FromServer = { kind: 'listening'; port: number } | { kind: 'done'; events: number };

/**
 * This file, compiled: under vitest the module is the TypeScript source, which a plain `node`
 * child cannot run, so the child runs the build's copy (the tests run after `make build`).
 */
const SERVER_SCRIPT = import.meta.url.endsWith('.ts')
  ? resolve(import.meta.dirname, '../../../dist/test/bench/lib/fanout-floor.js')
  : fileURLToPath(import.meta.url);

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export async function rawFanoutLimit(o: FanoutFloorOptions): Promise<FanoutFloorResult> {
  const messageBytes = o.messageBytes ?? 300;
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < o.servers; i++) {
      const child = fork(SERVER_SCRIPT, ['--fanout-floor-server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      ports.push(await new Promise<number>((resolve, reject) => {
        child.once('message', (m: FromServer) => (m.kind === 'listening' ? resolve(m.port) : reject(new Error('unexpected message'))));
        child.once('exit', (code) => reject(new Error(`fan-out floor server exited with ${String(code)}`)));
      }));
    }
    const delays = new Samples();
    let deliveries = 0;
    const open: Array<Promise<void>> = [];
    for (let i = 0; i < o.watchers; i++) {
      const socket = connect({ host: '127.0.0.1', port: ports[i % ports.length]! });
      sockets.push(socket);
      let partial = '';
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => {
        const arrived = nowMs();
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          deliveries++;
          delays.push(Math.max(0, arrived - Number(line.slice(0, line.indexOf(' ')))));
        }
      });
      socket.on('error', () => undefined);
      open.push(new Promise((resolve) => socket.once('connect', () => resolve())));
      if (open.length % 200 === 0) await Promise.all(open.splice(0));
    }
    await Promise.all(open);
    await sleep(500);
    const at = nowMs() + 200;
    const cpuBefore = process.cpuUsage();
    const done = children.map(
      (child) => new Promise<number>((resolve) => child.on('message', (m: FromServer) => m.kind === 'done' && resolve(m.events))),
    );
    for (const child of children) child.send({ kind: 'start', at, eventsPerSec: o.eventsPerSec, seconds: o.seconds, messageBytes } satisfies ToServer);
    const events = (await Promise.all(done)).reduce((a, b) => a + b, 0);
    await sleep(500);
    const cpu = process.cpuUsage(cpuBefore);
    const elapsed = (nowMs() - at) / 1000;
    const lat = summarizeLatencies(delays.view());
    // Each server's events reach only its share of the watchers.
    const expected = Math.round((events / o.servers) * o.watchers);
    return {
      watchers: o.watchers,
      servers: o.servers,
      eventsPerSec: o.eventsPerSec,
      deliveries,
      missing: Math.max(0, expected - deliveries),
      p50Ms: round(lat.p50Ms, 3),
      p99Ms: round(lat.p99Ms, 3),
      maxMs: round(lat.maxMs, 3),
      readerCpuCores: round((cpu.user + cpu.system) / 1e6 / elapsed, 3),
    };
  } finally {
    for (const s of sockets) s.destroy();
    for (const c of children) c.kill('SIGKILL');
  }
}

/** The server side: accept connections, then on `start` write to all of them on a fixed beat. */
function serve(): void {
  const conns = new Set<Socket>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    conns.add(socket);
    socket.on('close', () => conns.delete(socket));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    process.send!({ kind: 'listening', port: address.port } satisfies FromServer);
  });
  process.on('message', (m: ToServer) => {
    if (m.kind !== 'start') return;
    const interval = 1000 / m.eventsPerSec;
    const total = Math.round(m.seconds * m.eventsPerSec);
    let n = 0;
    const beat = (): void => {
      if (n >= total) {
        process.send!({ kind: 'done', events: n } satisfies FromServer);
        return;
      }
      const stamp = `${nowMs().toFixed(3)} `;
      const message = Buffer.from(stamp.padEnd(m.messageBytes - 1, 'x') + '\n', 'latin1');
      for (const socket of conns) socket.write(message);
      n++;
      setTimeout(beat, Math.max(0, m.at + n * interval - nowMs()));
    };
    setTimeout(beat, Math.max(0, m.at - nowMs()));
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes('--fanout-floor-server')) serve();
