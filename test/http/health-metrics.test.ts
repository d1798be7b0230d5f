// /healthz, /readyz and /metrics (prom-client, conflux_ names, bounded route labels).
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeMetrics } from '../../node/src/server/metrics.js';
import type { HttpLogger } from '../../node/src/server/http/index.js';
import { FakeNode } from './fake-node.js';
import { errorBody, startServer, type TestServer } from './harness.js';

describe('health', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it('/healthz is 200 when healthy, 503 JSON otherwise', async () => {
    const ok = await fetch(`${t.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok', id: 'n1' });
    t.node.isHealthy = false;
    const bad = await fetch(`${t.url}/healthz`);
    expect(bad.status).toBe(503);
    expect((await errorBody(bad)).code).toBe('unhealthy');
    t.node.isHealthy = true;
  });

  it('/readyz is 200 when ready, 503 JSON with the reason and Retry-After otherwise', async () => {
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    t.node.readiness = { ready: false, reason: 'catching up: applied 10 of 50' };
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const err = await errorBody(res);
    expect(err).toEqual({ code: 'not_ready', message: 'catching up: applied 10 of 50' });
    t.node.readiness = { ready: true };
  });

  it('has no /metrics route without metrics', async () => {
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
  });
});

describe('metrics', () => {
  let t: TestServer;
  let metrics: NodeMetrics;
  beforeAll(async () => {
    const node = new FakeNode('n1');
    node.members_.push({ id: 'n2', incarnation: 'i2', peerURL: 'http://a:1', clientURL: 'http://a:2', role: 'voter', lag: 7 });
    metrics = new NodeMetrics({ processMetrics: true });
    metrics.bindSource(node);
    t = await startServer({ node, metrics });
  });
  afterAll(async () => {
    await t.close();
  });

  async function scrape(): Promise<string> {
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  }

  it('exposes every conflux_ metric of the design plus process metrics', async () => {
    await fetch(`${t.url}/v1/kv/a`, { method: 'PUT', body: 'v' });
    metrics.observeFsync(0.002);
    metrics.observeApply(0.0005, 3);
    metrics.leaderChanged();
    metrics.proposal('committed');
    metrics.snapshot('taken', 4096);
    const text = await scrape();
    for (const name of [
      'conflux_raft_term 1',
      'conflux_raft_commit_index 1',
      'conflux_raft_applied_index 1',
      'conflux_raft_is_leader 1',
      'conflux_raft_leader_changes_total 1',
      'conflux_proposals_total{result="committed"} 1',
      'conflux_proposals_total{result="dropped"} 0',
      'conflux_fsync_duration_seconds_bucket',
      'conflux_fsync_duration_seconds_count 1',
      'conflux_apply_duration_seconds_count 1',
      'conflux_applied_entries_total 3',
      'conflux_replication_lag_entries{peer="n2"} 7',
      'conflux_snapshots_total{kind="taken"} 1',
      'conflux_snapshot_bytes{kind="taken"} 4096',
      'conflux_http_request_duration_seconds_bucket',
      'conflux_watchers 0',
      'conflux_keys 1',
      'conflux_store_revision 1',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('labels HTTP latency by route pattern, never by raw key', async () => {
    for (let i = 0; i < 5; i++) await fetch(`${t.url}/v1/kv/secret/key-${i}`);
    await fetch(`${t.url}/no/such/route-xyz`);
    const text = await scrape();
    expect(text).toMatch(/conflux_http_request_duration_seconds_count\{route="\/v1\/kv\/\{key\}",method="GET",code="404"\} 5/);
    expect(text).toMatch(/route="unmatched",method="GET",code="404"/);
    expect(text).not.toContain('key-1');
    expect(text).not.toContain('route-xyz');
  });

  it('reports replication lag only on the leader', async () => {
    t.node.becomeFollower('n2', 'http://127.0.0.1:1');
    try {
      const text = await scrape();
      expect(text).not.toContain('conflux_replication_lag_entries{');
      expect(text).toContain('conflux_raft_is_leader 0');
    } finally {
      t.node.becomeLeader();
    }
  });

  it('keeps registries apart: two NodeMetrics in one process', async () => {
    const other = new NodeMetrics({ processMetrics: false });
    other.proposal('refused');
    const text = (await other.render()).body;
    expect(text).toContain('conflux_proposals_total{result="refused"} 1');
    expect(text).not.toContain('process_cpu');
    expect(await scrape()).toContain('conflux_proposals_total{result="refused"} 0');
  });

  it('accepts a winston Logger: one line per request at the right level, with the request id', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger: HttpLogger = winston.createLogger({
      level: 'info',
      format: winston.format.json(),
      transports: [new winston.transports.Stream({ stream: sink })],
    });
    const w = await startServer({ logger });
    try {
      expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${w.url}/v1/kv/missing`, { headers: { 'X-Request-Id': 'w-1' } })).status).toBe(404);
      await new Promise((r) => setImmediate(r));
      // The 200 is a debug line, below the logger's level; the 404 is info.
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'info', message: 'http request', requestId: 'w-1', status: 404, route: '/v1/kv/{key}' });
    } finally {
      await w.close();
    }
  });
});
