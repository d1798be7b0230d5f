// The node metrics the alerts and the dashboard need beyond the design's list: snapshot durations
// and failures, per-member health (quorum at risk), and the data directory's filesystem (disk
// nearly full). Rendered from a NodeMetrics bound to a small source; the driver's calls are
// exercised for real by the Prometheus test (test/observability/prometheus.process.test.ts).
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeMetrics, type MetricsSource } from '../../node/src/server/metrics.js';
import type { MembersView, NodeStatus } from '../../node/src/server/node-api.js';

type Member = MembersView['members'][number];

function source(leader: boolean, members: Pick<Member, 'id' | 'role' | 'healthy' | 'lag'>[]): MetricsSource {
  const status = { id: 'n1', term: 3, commitIndex: 10, appliedIndex: 10 } as NodeStatus;
  return {
    status: () => status,
    isLeader: () => leader,
    members: () => ({
      leaderId: leader ? 'n1' : 'n2',
      members: members.map((m) => ({ ...m, incarnation: 'i', peerURL: 'http://x:1', clientURL: 'http://x:2', matchIndex: 10 - m.lag })),
    }),
    store: { revision: () => 5, keyCount: () => 2, liveBytes: () => 1500, historyBytes: () => 4200 },
    watches: { activeCount: () => 0 },
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The value of one sample line, e.g. sample(text, 'conflux_member_healthy{member="n2",role="voter"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('node metrics for alerts and the dashboard', () => {
  it('reports member health per member and role, on the leader only', async () => {
    const members = [
      { id: 'n1', role: 'voter' as const, healthy: true, lag: 0 },
      { id: 'n2', role: 'voter' as const, healthy: false, lag: 40 },
      { id: 'n3', role: 'learner' as const, healthy: true, lag: 2 },
    ];
    const m = new NodeMetrics({ processMetrics: false });
    m.bindSource(source(true, members));
    const text = (await m.render()).body;
    expect(sample(text, 'conflux_member_healthy{member="n1",role="voter"}')).toBe(1);
    expect(sample(text, 'conflux_member_healthy{member="n2",role="voter"}')).toBe(0);
    expect(sample(text, 'conflux_member_healthy{member="n3",role="learner"}')).toBe(1);

    const follower = new NodeMetrics({ processMetrics: false });
    follower.bindSource(source(false, members));
    expect((await follower.render()).body).not.toContain('conflux_member_healthy{');
  });

  it('forgets members that left the configuration', async () => {
    let members = [
      { id: 'n1', role: 'voter' as const, healthy: true, lag: 0 },
      { id: 'n2', role: 'voter' as const, healthy: true, lag: 0 },
    ];
    const src = source(true, []);
    const m = new NodeMetrics({ processMetrics: false });
    m.bindSource({ ...src, members: () => ({ leaderId: 'n1', members: members.map((x) => ({ ...x, incarnation: 'i', peerURL: '', clientURL: '', matchIndex: 0 })) }) });
    expect((await m.render()).body).toContain('member="n2"');
    members = members.slice(0, 1);
    expect((await m.render()).body).not.toContain('member="n2"');
  });

  it('times snapshots by kind and counts failed transfers from zero', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    let text = (await m.render()).body;
    expect(sample(text, 'conflux_snapshot_failures_total{kind="sent"}')).toBe(0);
    expect(sample(text, 'conflux_snapshot_failures_total{kind="received"}')).toBe(0);
    m.snapshot('taken', 2048, 0.02);
    m.snapshot('sent', 2048, 1.5);
    m.snapshotFailed('sent');
    m.snapshotFailed('sent');
    m.snapshotFailed('received');
    text = (await m.render()).body;
    expect(sample(text, 'conflux_snapshot_duration_seconds_count{kind="taken"}')).toBe(1);
    expect(sample(text, 'conflux_snapshot_duration_seconds_sum{kind="taken"}')).toBeCloseTo(0.02);
    expect(sample(text, 'conflux_snapshot_duration_seconds_bucket{le="0.01",kind="taken"}')).toBe(0);
    expect(sample(text, 'conflux_snapshot_duration_seconds_bucket{le="0.05",kind="taken"}')).toBe(1);
    expect(sample(text, 'conflux_snapshot_duration_seconds_bucket{le="2.5",kind="sent"}')).toBe(1);
    expect(sample(text, 'conflux_snapshot_bytes{kind="sent"}')).toBe(2048);
    expect(sample(text, 'conflux_snapshot_failures_total{kind="sent"}')).toBe(2);
    expect(sample(text, 'conflux_snapshot_failures_total{kind="received"}')).toBe(1);
  });

  it('reports the filesystem of the data directory, and nothing without one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conflux-metrics-'));
    dirs.push(dir);
    const m = new NodeMetrics({ processMetrics: false, dataDir: dir });
    const text = (await m.render()).body;
    const st = statfsSync(dir);
    const capacity = sample(text, `conflux_disk_capacity_bytes{path="${dir}"}`);
    const available = sample(text, `conflux_disk_available_bytes{path="${dir}"}`);
    expect(capacity).toBe(st.blocks * st.bsize);
    expect(available).toBeGreaterThan(0);
    expect(available).toBeLessThanOrEqual(capacity!);
    // Free space moves with other writers: within 1 % of what statfs says now.
    expect(Math.abs(available! - st.bavail * st.bsize)).toBeLessThan(capacity! / 100);

    const none = (await new NodeMetrics({ processMetrics: false }).render()).body;
    expect(none).not.toContain('conflux_disk_');
    // A data directory that vanished leaves the gauges without a sample rather than a false 0.
    const gone = (await new NodeMetrics({ processMetrics: false, dataDir: join(dir, 'missing') }).render()).body;
    expect(gone).toContain('# TYPE conflux_disk_available_bytes gauge');
    expect(gone).not.toMatch(/^conflux_disk_(available|capacity)_bytes/m);
  });

  it('reports the live data, the history and the quota they are bounded by (quota only when set)', async () => {
    const m = new NodeMetrics({ processMetrics: false, quotaBytes: 2048 });
    m.bindSource(source(true, []));
    const text = (await m.render()).body;
    expect(sample(text, 'conflux_store_live_bytes')).toBe(1500);
    expect(sample(text, 'conflux_store_history_bytes')).toBe(4200);
    expect(sample(text, 'conflux_store_quota_bytes')).toBe(2048);
    const none = (await new NodeMetrics({ processMetrics: false }).render()).body;
    expect(none).not.toContain('conflux_store_quota_bytes');
  });
});
