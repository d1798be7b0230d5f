// A real Prometheus scrapes a local 3-node Conflux cluster (real node processes) and the operator's
// /metrics endpoint (its real composition root over the simulated cluster of the operator's unit
// tests), with the chart's alert rules loaded. Checked through Prometheus' HTTP API:
//   - promtool check metrics on a live node's and the operator's /metrics;
//   - sum(conflux_raft_is_leader) == 1, and a non-zero commit rate under writes;
//   - the alert conditions we can cause for real hold as expressions: a follower down (quorum at
//     risk; with writes, unhealthy for the leader and lag growing past 1000 entries), three leader
//     transfers (leader changes too often), two of three nodes down (no leader), failing
//     reconciles (operator errors). Disk, fsync and snapshot-failure alerts: every vector selector
//     of every alert returns data, Prometheus evaluates every rule without error, and the promtool
//     unit tests (test/prometheus/alerts.test.yaml) cover their logic;
//   - every query of the Grafana dashboard returns data (no panel queries a metric that does not exist).
// With CONFLUX_DASHBOARD_PNG=path the dashboard is drawn from this scrape into that PNG
// (`make dashboard-png` writes docs/images/dashboard.png).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, putRetrying, waitFor, type ProcNode } from '../support/process-cluster.js';
import { ALERTS_PATH, alertRules, concreteExpr, loadDashboard, queryPanels } from './dashboard.js';
import { renderDashboardPng } from './render-dashboard.js';
import { promtoolCheckMetrics, TestPrometheus, type PromSample } from './prometheus.js';
import { SimulatedOperator } from './simulated-operator.js';

const NODE_LABELS = { namespace: 'conflux-test', conflux_cluster: 'local' };
const OPERATOR_LABELS = { namespace: 'conflux-system' };
const SNAPSHOT_ENTRIES = 200;

const alertExpr = (name: string) => alertRules().find((r) => r.alert === name)!.expr;

/** The vector selectors of an expression (metric name and matchers), e.g. `up{conflux_cluster!=""}`. */
export function vectorSelectors(expr: string): string[] {
  // Blank out what is not a metric name (string contents, label lists of by/on/without/ignoring),
  // keeping offsets so the matchers can be read from the original text.
  const blank = (s: string) => ' '.repeat(s.length);
  const noStrings = expr.replace(/"[^"]*"/g, (s) => `"${blank(s.slice(2))}"`).replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, blank);
  const out: string[] = [];
  const re = /\b([a-z_:][a-z0-9_:]*)\s*(\{[^}]*\})?/g;
  for (let m = re.exec(noStrings); m !== null; m = re.exec(noStrings)) {
    const name = m[1]!;
    if (!(name.startsWith('conflux_') || name === 'up')) continue;
    // Take the matchers from the original text (same offsets).
    out.push(expr.slice(m.index, m.index + m[0].length).replace(/\s+/g, ''));
  }
  return [...new Set(out)];
}

const values = (samples: PromSample[]) => samples.map((s) => Number(s.value[1]));

describe('Prometheus scraping a local 3-node cluster and the operator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conflux-prometheus-'));
  const cluster = new ProcessCluster(['--heartbeat-interval-ms', '50']);
  const operator = new SimulatedOperator();
  let prom: TestPrometheus;
  let nodes: ProcNode[];
  let watcher: AbortController | null = null;
  const startedAt = Date.now() / 1000;

  const leaderNode = async () => cluster.node(await cluster.leader(30_000));
  const target = (n: ProcNode) => `127.0.0.1:${n.clientPort}`;
  /** Waits until `expr` returns at least one sample (passing `accept` if given). */
  const eventually = (what: string, expr: string, timeoutMs = 30_000, accept: (s: PromSample[]) => boolean = (s) => s.length > 0) =>
    waitFor(what, async () => {
      const s = await prom.query(expr);
      return accept(s) ? s : null;
    }, timeoutMs, 500);

  /** `count` writes of distinct keys from `concurrency` loops, each retried on 503 like a client. */
  async function write(prefix: string, count: number, concurrency = 16): Promise<void> {
    const base = (await leaderNode()).client;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const r = await putRetrying(base, `${prefix}/k${i}`, `value ${i}`, {}, 30_000);
          expect([200, 201]).toContain(r.status);
          await r.arrayBuffer();
        }
      }),
    );
  }

  /** Reads that succeed, reads of missing keys (404), a listing: traffic for the latency and error panels. */
  async function readTraffic(prefix: string, count: number): Promise<void> {
    for (const n of cluster.running()) {
      for (let i = 0; i < count; i++) {
        const ok = await fetch(`${n.client}/v1/kv/${prefix}/k${i}`, { signal: AbortSignal.timeout(10_000) });
        expect(ok.status).toBe(200);
        await ok.arrayBuffer();
        const missing = await fetch(`${n.client}/v1/kv/${prefix}/missing-${i}`, { signal: AbortSignal.timeout(10_000) });
        expect(missing.status).toBe(404);
        await missing.arrayBuffer();
      }
      const list = await fetch(`${n.client}/v1/kv?prefix=${prefix}/&limit=10`, { signal: AbortSignal.timeout(10_000) });
      expect(list.status).toBe(200);
      await list.arrayBuffer();
    }
  }

  beforeAll(async () => {
    nodes = await cluster.startStatic(['n1', 'n2', 'n3'], ['--snapshot-entries', String(SNAPSHOT_ENTRIES), '--compaction-keep-entries', '20']);
    await cluster.leader(30_000);
    await operator.start();
    prom = new TestPrometheus(
      dir,
      [
        { name: 'conflux-nodes', groups: [{ targets: nodes.map(target), labels: NODE_LABELS }] },
        { name: 'conflux-operator', groups: [{ targets: [operator.url.replace('http://', '')], labels: OPERATOR_LABELS }] },
      ],
      [ALERTS_PATH],
    );
    await prom.start();
  }, 120_000);

  afterAll(async () => {
    watcher?.abort();
    await prom?.stop();
    await operator.stop();
    await cluster.destroy();
    if (!process.env.KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check metrics: a live node and the operator expose valid text; lint findings only on prom-client defaults', async () => {
    // prom-client's default Node.js metrics name three gauges *_total; nothing of ours is flagged.
    const known = /^(conflux_operator_)?nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    for (const url of [nodes[0]!.client, operator.url]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/^conflux_/m);
      const { status, findings } = promtoolCheckMetrics(text);
      // 0 = clean, 3 = lint findings; 1 would be a parse error.
      expect([0, 3], findings.join('\n')).toContain(status);
      expect(findings.filter((f) => !known.test(f))).toEqual([]);
    }
    // The check can fail: a counter without _total and a malformed line.
    expect(promtoolCheckMetrics('# TYPE conflux_x counter\nconflux_x 1\n').findings.join('\n')).toContain('counter metrics should have "_total" suffix');
    expect(promtoolCheckMetrics('conflux_x{ 1\n').status).toBe(1);
  });

  it('scrapes every node and the operator', async () => {
    await waitFor('every target up', async () => {
      const t = await prom.targets();
      return t.length === 4 && t.every((x) => x.health === 'up');
    }, 60_000, 500);
    const up = await prom.query('up');
    expect(up.map((s) => s.metric.job).sort()).toEqual(['conflux-nodes', 'conflux-nodes', 'conflux-nodes', 'conflux-operator']);
    expect(values(up)).toEqual([1, 1, 1, 1]);
  }, 90_000);

  it('sees exactly one leader: sum(conflux_raft_is_leader) == 1', async () => {
    const s = await eventually('sum(conflux_raft_is_leader) == 1', 'sum(conflux_raft_is_leader)', 30_000, (x) => values(x)[0] === 1);
    expect(values(s)).toEqual([1]);
    // Every node reports, one of them as leader.
    const per = await prom.query('conflux_raft_is_leader');
    expect(per).toHaveLength(3);
    expect(values(per).sort()).toEqual([0, 0, 1]);
  }, 60_000);

  it('sees a non-zero commit rate while clients write', async () => {
    const idle = values(await prom.query('max(rate(conflux_raft_commit_index[5s]))'))[0];
    let writing = true;
    const writer = (async () => {
      for (let round = 0; writing; round++) await write(`rate/r${round}`, 50, 8);
    })();
    try {
      const s = await eventually('a commit rate above 0', 'max(rate(conflux_raft_commit_index[5s]))', 60_000, (x) => (values(x)[0] ?? 0) > 0);
      expect(values(s)[0]).toBeGreaterThan(0);
      expect(values(s)[0]).toBeGreaterThan(idle ?? 0);
    } finally {
      writing = false;
      await writer;
    }
    // Open a watcher (the Watchers panel) and take a snapshot on every node.
    watcher = new AbortController();
    const w = await fetch(`${nodes[0]!.client}/v1/watch?prefix=rate/`, { signal: watcher.signal });
    expect(w.status).toBe(200);
    void w.body?.pipeTo(new WritableStream()).catch(() => undefined);
    for (const n of nodes) {
      const r = await fetch(`${n.client}/admin/snapshot`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    await eventually('a watcher', 'sum(conflux_watchers) >= 1');
    await eventually('snapshots taken on every node', 'conflux_snapshots_total{kind="taken"} > 0', 30_000, (x) => x.length === 3);
  }, 180_000);

  it('a follower down: quorum at risk, then its lag grows past 1000 entries; back, it installs a snapshot', async () => {
    const leader = await leaderNode();
    const follower = nodes.find((n) => n.id !== leader.id)!;
    await cluster.kill(follower.id);
    // Its target is down: the full ConfluxQuorumAtRisk expression returns the cluster.
    const atRisk = await eventually('ConfluxQuorumAtRisk to hold', alertExpr('ConfluxQuorumAtRisk'), 60_000);
    expect(atRisk.map((s) => s.metric)).toEqual([NODE_LABELS]);
    expect(values(atRisk)).toEqual([1]);

    // 1200 writes it misses (far past the snapshot interval and the entries kept after compaction).
    await write('lag', 1200);
    // Now the leader sees it too: silent and behind.
    const unhealthy = await eventually('the leader to report it unhealthy', 'conflux_member_healthy == 0');
    expect(unhealthy.map((s) => s.metric.member)).toEqual([follower.id]);
    const lagging = await eventually('ConfluxFollowerLagGrowing to hold', alertExpr('ConfluxFollowerLagGrowing'), 60_000);
    expect(lagging.map((s) => s.metric.peer)).toEqual([follower.id]);
    expect(values(lagging)[0]).toBeGreaterThan(1000);

    cluster.start(follower.id);
    // The leader's log no longer reaches back: the follower gets a snapshot.
    await eventually('a snapshot installed on the returning follower', `conflux_snapshots_total{kind="installed", instance="${target(follower)}"} > 0`, 90_000);
    await eventually('a snapshot sent by the leader', 'conflux_snapshots_total{kind="sent"} > 0', 30_000);
    await eventually('the follower caught up', 'max(conflux_replication_lag_entries) < 50', 90_000);
    await eventually('all voters healthy again', 'sum(conflux_member_healthy{role="voter"}) == 3', 60_000);
    expect(await prom.query(alertExpr('ConfluxQuorumAtRisk'))).toEqual([]);
  }, 300_000);

  it('three leader transfers make ConfluxLeaderChangesTooOften hold', async () => {
    const before = values(await prom.query('max(conflux_raft_term)'))[0]!;
    for (let done = 0, attempts = 0; done < 3; attempts++) {
      expect(attempts, 'leader transfers keep failing').toBeLessThan(30);
      const leader = await leaderNode();
      const r = await fetch(`${leader.client}/admin/leader/transfer`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) });
      const body = await r.text();
      // 503: the transfer did not happen (e.g. no voter caught up yet); retry like a client.
      if (r.status === 503) {
        await new Promise((res) => setTimeout(res, 500));
        continue;
      }
      expect(r.status, body).toBe(200);
      await waitFor('a new leader', async () => (await cluster.leader(30_000)) !== leader.id, 30_000, 100);
      done++;
    }
    const fired = await eventually('ConfluxLeaderChangesTooOften to hold', alertExpr('ConfluxLeaderChangesTooOften'), 60_000);
    expect(fired.map((s) => s.metric)).toEqual([NODE_LABELS]);
    expect(values(fired)[0]).toBeGreaterThanOrEqual(3);
    expect(values(await prom.query('max(conflux_raft_term)'))[0]).toBeGreaterThanOrEqual(before + 3);
  }, 180_000);

  it('two of three nodes down: ConfluxNoLeader holds; back up, one leader again', async () => {
    const survivor = await leaderNode();
    const others = nodes.filter((n) => n.id !== survivor.id);
    for (const n of others) await cluster.kill(n.id);
    const fired = await eventually('ConfluxNoLeader to hold', alertExpr('ConfluxNoLeader'), 60_000);
    expect(fired.map((s) => s.metric)).toEqual([NODE_LABELS]);
    expect(values(await prom.query('sum(conflux_raft_is_leader)'))).toEqual([0]);
    for (const n of others) cluster.start(n.id);
    await cluster.leader(60_000);
    await eventually('sum(conflux_raft_is_leader) == 1 again', 'sum(conflux_raft_is_leader) == 1', 60_000);
    await eventually('every node scraped again', 'sum(up{job="conflux-nodes"}) == 3', 60_000);
    expect(await prom.query(alertExpr('ConfluxNoLeader'))).toEqual([]);
  }, 240_000);

  it('failing reconciles make ConfluxOperatorReconcileErrors hold; the operator changes membership when scaled', async () => {
    operator.failReconciles(5);
    const fired = await eventually('ConfluxOperatorReconcileErrors to hold', alertExpr('ConfluxOperatorReconcileErrors'), 60_000);
    expect(fired.map((s) => s.metric)).toEqual([OPERATOR_LABELS]);
    operator.scale(5);
    await waitFor('5 voters in the simulated cluster', () => operator.members().filter((m) => m.endsWith(':voter')).length === 5, 60_000, 200);
    operator.scale(3);
    await waitFor('3 voters again', () => operator.members().length === 3, 60_000, 200);
    await eventually('membership changes counted', 'sum(conflux_operator_membership_changes_total{result="ok"}) >= 7', 30_000);
  }, 180_000);

  it('every vector selector of every alert returns data, and Prometheus evaluates every rule without error', async () => {
    for (const rule of alertRules()) {
      const selectors = vectorSelectors(rule.expr);
      expect(selectors.length, rule.alert).toBeGreaterThan(0);
      for (const sel of selectors) {
        const s = await prom.query(sel);
        expect(s.length, `${rule.alert}: ${sel} returns no data`).toBeGreaterThan(0);
      }
      // The full expression is valid PromQL against real data (it may be empty: nothing is wrong).
      await prom.query(rule.expr);
    }
    // The selectors' extraction itself.
    expect(vectorSelectors('max by (a, conflux_b) (up{conflux_cluster!="x"}) == 0 or on (conflux_c) rate(conflux_y_total{k="conflux_z"}[5m])')).toEqual([
      'up{conflux_cluster!="x"}',
      'conflux_y_total{k="conflux_z"}',
    ]);
    const rules = await waitFor('every rule evaluated', async () => {
      const r = await prom.rules();
      return r.length === alertRules().length && r.every((x) => x.health !== 'unknown') ? r : null;
    }, 60_000, 500);
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
  }, 120_000);

  it('every query of the Grafana dashboard returns data', async () => {
    // Fresh traffic for the panels that show rates over the last minute.
    operator.failReconciles(2);
    await write('dash', 300);
    await readTraffic('dash', 20);
    const panels = queryPanels(loadDashboard());
    const empty: string[] = [];
    let round = 0;
    await waitFor('every dashboard query to return data', async () => {
      // Traffic goes on while we look, as on a live dashboard: a rate over the last minute of a
      // histogram that got no new observations (all scraped before, or a scrape missed on a
      // loaded machine) is NaN, which is no data.
      if (round++ > 0) {
        await write(`dash-${round}`, 40);
        await readTraffic('dash', 3);
      }
      empty.length = 0;
      for (const p of panels) {
        for (const t of p.targets) {
          const s = await prom.query(concreteExpr(t.expr, '1m'));
          // Data that can be drawn: at least one sample that is a number.
          if (!s.some((x) => Number.isFinite(Number(x.value[1])))) empty.push(`${p.title} [${t.refId}]: ${t.expr}`);
        }
      }
      return empty.length === 0;
    }, 60_000, 2_000).catch((err: Error) => {
      throw new Error(`${err.message}\nqueries without data:\n${empty.join('\n')}`);
    });
    expect(empty).toEqual([]);

    const png = process.env.CONFLUX_DASHBOARD_PNG;
    if (png) {
      const written = await renderDashboardPng(prom, loadDashboard(), { start: startedAt, end: Date.now() / 1000, out: png });
      expect(written.panels).toBe(panels.length);
    }
  }, 180_000);
});
