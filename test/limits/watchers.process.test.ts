// 10,000 concurrent watch streams on one real node (issue 6, bounded resources): the node serves
// them all, every stream gets every event, the next one is refused with 429, and the node's
// resident memory stays under a stated bound. The RSS figures are printed for the report.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, putRetrying, type ProcNode } from '../support/process-cluster.js';

const WATCHERS = 10_000;
/** The bound this test holds the node to, with 10,000 streams open (measured: see the log line). */
const RSS_BOUND_MB = 512;

let cluster: ProcessCluster;
let node: ProcNode;
const sockets: net.Socket[] = [];

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

interface Stream {
  socket: net.Socket;
  text: string;
}

function openWatch(port: number): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const stream: Stream = { socket, text: '' };
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      // Keep only what the assertions need: ids, and the status line.
      stream.text += c.length > 4096 ? c.slice(0, 4096) : c;
      if (stream.text.startsWith('HTTP/1.1 ') && stream.text.includes('\r\n\r\n')) resolve(stream);
    });
    socket.on('error', reject);
    socket.write('GET /v1/watch?prefix=w/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    sockets.push(socket);
  });
}

beforeAll(async () => {
  cluster = new ProcessCluster();
  [node] = (await cluster.define(['w'])) as [ProcNode];
  // The connection bound is set, not derived from the open-files limit, so that it never ends below the watchers.
  cluster.start('w', ['--bootstrap', '--max-watchers', String(WATCHERS), '--max-connections', String(WATCHERS + 100)]);
  await cluster.leader(15_000);
  expect((await putRetrying(node.client, 'w/warmup', 'x')).status).toBe(201);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await cluster.destroy();
});

describe(`${WATCHERS} watchers on one node`, () => {
  it(`serves them all, delivers every event to each, refuses one more with 429, and stays under ${RSS_BOUND_MB} MB RSS`, async () => {
    const pid = node.proc!.pid!;
    const baseline = rssMB(pid);
    const streams: Stream[] = [];
    for (let opened = 0; opened < WATCHERS; ) {
      const batch = Math.min(500, WATCHERS - opened);
      streams.push(...(await Promise.all(Array.from({ length: batch }, () => openWatch(node.clientPort)))));
      opened += batch;
    }
    expect(streams.every((s) => s.text.startsWith('HTTP/1.1 200'))).toBe(true);
    const open = rssMB(pid);

    const extra = await openWatch(node.clientPort);
    for (let i = 0; i < 100 && !extra.text.includes('}'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(extra.text).toMatch(/^HTTP\/1\.1 429 /);
    expect(extra.text).toContain('too_many_watchers');

    const revisions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await putRetrying(node.client, `w/k${i}`, `v${i}`);
      expect(r.status).toBe(201);
      revisions.push(((await r.json()) as { revision: number }).revision);
    }
    const last = revisions.at(-1)!;
    const deadline = Date.now() + 60_000;
    const missing = () => streams.filter((s) => !s.text.includes(`id: ${last}\n`));
    while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(missing().length, 'streams that did not get the last event').toBe(0);
    for (const s of streams) {
      const ids = [...s.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toEqual(revisions);
    }
    const loaded = rssMB(pid);
    console.log(
      `${WATCHERS} watchers: node RSS ${baseline.toFixed(0)} MB before, ${open.toFixed(0)} MB with the streams open, ` +
        `${loaded.toFixed(0)} MB after 5 events to each (${(((loaded - baseline) * 1024) / WATCHERS).toFixed(1)} KiB per watcher); bound ${RSS_BOUND_MB} MB`,
    );
    expect(Math.max(open, loaded)).toBeLessThan(RSS_BOUND_MB);

    // Closing the streams frees the slots: a new watch is accepted again.
    for (const s of streams) s.socket.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const again = await openWatch(node.clientPort);
    expect(again.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(cluster.running().map((n) => n.id)).toEqual(['w']);
  }, 180_000);
});
