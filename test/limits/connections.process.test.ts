// A flood of idle connections on a real node (`--max-connections`): past the bound, connections
// are closed at once and counted; the node stays up, and serves again as soon as the flood ends.
// Without the bound, enough idle sockets would take the file descriptors the log needs.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, putRetrying, type ProcNode } from '../support/process-cluster.js';

const LIMIT = 20;
const FLOOD = 50;

let cluster: ProcessCluster;
let node: ProcNode;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  cluster = new ProcessCluster();
  [node] = (await cluster.define(['c'])) as [ProcNode];
  cluster.start('c', ['--bootstrap', '--max-connections', String(LIMIT)]);
  await cluster.leader(15_000);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await cluster.destroy();
});

describe('--max-connections on a real node', () => {
  it('closes the connections past the bound, stays up, and serves once they are gone', async () => {
    const open = new Set<net.Socket>();
    await Promise.all(
      Array.from({ length: FLOOD }, () =>
        new Promise<void>((resolve) => {
          const s = net.connect(node.clientPort, '127.0.0.1');
          sockets.push(s);
          s.on('connect', () => {
            open.add(s);
            resolve();
          });
          s.on('close', () => {
            open.delete(s);
            resolve();
          });
          s.on('error', () => undefined);
        }),
      ),
    );
    // The node closes what is past the bound at once; the rest stay open (idle, within the
    // keep-alive time). A slot or two may be held by this process's own keep-alive connection.
    await new Promise((r) => setTimeout(r, 1000));
    const held = open.size;
    expect(held).toBeLessThanOrEqual(LIMIT);
    expect(held).toBeGreaterThanOrEqual(LIMIT - 3);
    expect(cluster.running().map((n) => n.id)).toEqual(['c']);
    for (const s of open) s.destroy();
    // Let the node see them go before the next request.
    await new Promise((r) => setTimeout(r, 300));
    expect((await putRetrying(node.client, 'after/flood', 'v')).status).toBe(201);
    const metrics = await (await fetch(`${node.client}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    expect(metrics).toContain(`conflux_connections_dropped_total{port="client"} ${FLOOD - held}`);
    expect(await cluster.logs('c')).toContain('connections refused: the port is at its limit');
  }, 60_000);
});
