// The composition root with fakes behind its interfaces: the simulated world (FakeKube +
// FakeConflux), a manual clock, fake watch sources; real HTTP for /healthz and /metrics.
import { afterEach, describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeError } from '../../operator/src/kube.js';
import { silentLogger } from '../../operator/src/logger.js';
import { startOperator, type OperatorConfig, type RunningOperator, type WatchSource } from '../../operator/src/main.js';
import { OperatorMetrics } from '../../operator/src/metrics.js';
import { DEFAULT_RECONCILE_OPTIONS } from '../../operator/src/reconcile/types.js';
import type { InformerLike } from '../../operator/src/watch.js';
import { World } from './fake-world.js';
import { ManualTimers } from './manual-timers.js';

class FakeInformer implements InformerLike<KubernetesObject> {
  private readonly handlers = new Map<string, ((x?: unknown) => void)[]>();
  on(event: string, cb: (arg: never) => void): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), cb as (x?: unknown) => void]);
  }
  emit(event: string, arg?: unknown): void {
    for (const cb of this.handlers.get(event) ?? []) cb(arg);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

let running: RunningOperator[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.stop()));
  running = [];
});

function config(overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return { listen: { host: '127.0.0.1', port: 0 }, reconcile: DEFAULT_RECONCILE_OPTIONS, workers: 2, resyncMs: 5000, ...overrides };
}

async function start(w: World, timers: ManualTimers, overrides: Partial<OperatorConfig> = {}, informers: FakeInformer[] = []) {
  const exits: number[] = [];
  const metrics = new OperatorMetrics();
  const watches: WatchSource[] = [
    {
      name: 'confluxclusters',
      make: () => {
        const inf = new FakeInformer();
        informers.push(inf);
        return inf;
      },
      toRef: (obj) => (obj.metadata?.name ? { namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name } : null),
    },
  ];
  const op = await startOperator(config(overrides), { kube: w.kube, admin: w.conflux, timers, logger: silentLogger, metrics, watches, exit: (c) => exits.push(c) });
  running.push(op);
  return { op, exits, metrics };
}

/** Lets the operator, the StatefulSet controller and the kubelet run for `ms`. */
async function run(w: World, timers: ManualTimers, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 250) {
    w.sync();
    await timers.advance(250);
  }
}

const get = async (op: RunningOperator, path: string, method = 'GET') => {
  const res = await fetch(`http://127.0.0.1:${op.port}${path}`, { method });
  return { status: res.status, text: await res.text() };
};

describe('startOperator', () => {
  it('reconciles the clusters it lists and serves /healthz and /metrics', async () => {
    const w = new World({ replicas: 3 });
    const timers = new ManualTimers();
    const { op } = await start(w, timers);
    await run(w, timers, 40_000);
    expect(w.conflux.config_.map((m) => `${m.id}:${m.role}`)).toEqual(['demo-0:voter', 'demo-1:voter', 'demo-2:voter']);
    expect(w.cluster().status!.phase).toBe('Running');
    expect(op.isLeader()).toBe(true);
    expect(await get(op, '/healthz')).toEqual({ status: 200, text: '{"status":"ok","leader":true}' });
    const metrics = (await get(op, '/metrics')).text;
    expect(metrics).toContain('conflux_operator_membership_changes_total{kind="add-learner",result="ok"} 2');
    expect(metrics).toContain('conflux_operator_membership_changes_total{kind="bootstrap",result="ok"} 1');
    expect(metrics).toMatch(/conflux_operator_reconcile_total\{result="done"\} \d+/);
    expect(metrics).toContain('conflux_operator_is_leader 1');
    expect((await get(op, '/nope')).status).toBe(404);
    expect((await get(op, '/healthz', 'POST')).status).toBe(405);
  });

  it('reconciles on watch events without waiting for the resync', async () => {
    const w = new World({ replicas: 1 });
    const timers = new ManualTimers();
    const informers: FakeInformer[] = [];
    await start(w, timers, { resyncMs: 10_000_000 }, informers);
    await timers.advance(0);
    const passes = () => w.kube.calls.filter((c) => c.op === 'get' && c.kind === 'ConfluxCluster').length;
    const before = passes();
    informers[0]!.emit('update', w.cluster());
    informers[0]!.emit('update', { metadata: {} });
    await timers.advance(0);
    expect(passes()).toBe(before + 1);
  });

  it('reports unhealthy when the API server cannot be listed for three resync periods', async () => {
    const w = new World({ replicas: 1 });
    const timers = new ManualTimers();
    const { op } = await start(w, timers);
    await timers.advance(0);
    w.kube.failOn({ op: 'list', kind: 'ConfluxCluster' }, new KubeError(403, 'forbidden'), 100);
    await timers.advance(21_000);
    expect((await get(op, '/healthz')).status).toBe(503);
  });

  it('with leader election, one operator reconciles and the other stands by until the Lease is released', async () => {
    const w = new World({ replicas: 1 });
    const timers = new ManualTimers();
    const lease = (identity: string) => ({ namespace: 'ops', name: 'conflux-operator', identity, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    const a = await start(w, timers, { leaderElection: lease('a') });
    await timers.advance(0);
    const b = await start(w, timers, { leaderElection: lease('b') });
    await run(w, timers, 10_000);
    expect(a.op.isLeader()).toBe(true);
    expect(b.op.isLeader()).toBe(false);
    expect(await get(b.op, '/healthz')).toEqual({ status: 200, text: '{"status":"ok","leader":false}' });
    expect((await get(b.op, '/metrics')).text).toContain('conflux_operator_is_leader 0');
    expect(w.conflux.changes).toEqual(['bootstrap demo-0']);
    await a.op.stop();
    await timers.advance(2_000);
    expect(b.op.isLeader()).toBe(true);
    expect(w.kube.peek('Lease', 'ops', 'conflux-operator')!.spec!.holderIdentity).toBe('b');
    expect(a.exits).toEqual([]);
  });

  it('exits when it loses the Lease', async () => {
    const w = new World({ replicas: 1 });
    const timers = new ManualTimers();
    const { op, exits } = await start(w, timers, { leaderElection: { namespace: 'ops', name: 'l', identity: 'a', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } });
    await timers.advance(0);
    expect(op.isLeader()).toBe(true);
    w.kube.failOn({ op: 'get', kind: 'Lease' }, new KubeError(500, 'etcd down'), 1000);
    await timers.advance(12_000);
    expect(exits).toEqual([1]);
    expect(op.isLeader()).toBe(false);
  });

  it('--crash-after exits right after the named change (e2e crash scenarios)', async () => {
    const w = new World({ replicas: 2 });
    const timers = new ManualTimers();
    const { exits } = await start(w, timers, { crashAfter: 'add-learner' });
    await run(w, timers, 20_000);
    expect(exits).toEqual([3]);
    expect(w.conflux.changes).toContain('add demo-1');
  });

  it('refuses a port in use', async () => {
    const w = new World({ replicas: 1 });
    const timers = new ManualTimers();
    const { op } = await start(w, timers);
    await expect(startOperator(config({ listen: { host: '127.0.0.1', port: op.port } }), {
      kube: w.kube, admin: w.conflux, timers, logger: silentLogger, metrics: new OperatorMetrics(), watches: [], exit: () => undefined,
    })).rejects.toThrow(/EADDRINUSE/);
  });
});
