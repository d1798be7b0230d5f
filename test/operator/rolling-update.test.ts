// Rolling updates with OnDelete, pass by pass: stale pods that take no part in the quorum first
// (even while the cluster is not settled, or while the membership step waits on them), then
// followers one at a time, each only after the previous one is ready again, the leader last after
// leadership moved to an updated voter; nothing without a leader.
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../operator/src/reconcile/reconcile.js';
import { World } from './fake-world.js';
import { converge, ref } from './passes.js';

const restarts = (w: World) => w.kube.events.filter((e) => e.reason === 'PodRestarted').map((e) => e.message!.split(' ')[1]!);
const images = (w: World) => w.pods().map((p) => `${p.metadata!.name}=${p.spec!.containers[0]!.image}`);

describe('rolling update order', () => {
  it('restarts one pod per pass, each after every pod is ready again, the leader last after a transfer to an updated voter', async () => {
    const w = new World({ replicas: 5 });
    await converge(w, undefined, 80);
    w.setSpec({ image: 'conflux:0.2.0' });
    const log: string[] = [];
    for (let i = 0; i < 80 && images(w).some((x) => !x.endsWith('0.2.0')); i++) {
      w.sync();
      const notReady = w.pods().filter((p) => !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      const before = restarts(w).length;
      const transfersBefore = w.conflux.changes.filter((c) => c.startsWith('transfer')).length;
      await reconcile(w.ctx(), ref);
      const restarted = restarts(w).slice(before);
      expect(restarted.length).toBeLessThanOrEqual(1);
      if (restarted.length === 1) {
        // A healthy member is restarted only when every pod was ready.
        expect(notReady, `restarting ${restarted[0]} while ${notReady} pods were not ready`).toBe(0);
        log.push(`restart ${restarted[0]} (leader ${w.conflux.leaderId})`);
      }
      if (w.conflux.changes.filter((c) => c.startsWith('transfer')).length > transfersBefore) log.push(`transfer to ${w.conflux.leaderId}`);
      w.nowMs += 1000;
    }
    expect(log).toEqual([
      'restart demo-4 (leader demo-0)',
      'restart demo-3 (leader demo-0)',
      'restart demo-2 (leader demo-0)',
      'restart demo-1 (leader demo-0)',
      'transfer to demo-1',
      'restart demo-0 (leader demo-1)',
    ]);
    await converge(w, undefined, 80);
    expect(w.cluster().status!.phase).toBe('Running');
    // Only the transfer changed the Raft state: no member was removed or added.
    expect(w.conflux.config()).toEqual(['demo-0:voter', 'demo-1:voter', 'demo-2:voter', 'demo-3:voter', 'demo-4:voter']);
  });

  it('restarts a stale voter the leader does not hear from first, without waiting for a settled cluster', async () => {
    const w = new World({ replicas: 3 });
    await converge(w, undefined, 80);
    w.setSpec({ image: 'conflux:0.2.0' });
    w.sync();
    await reconcile(w.ctx(), ref); // patches the template
    // demo-1's process is gone (crash loop on the old template) but its pod object still runs.
    w.conflux.running.delete('demo-1');
    w.sync();
    w.conflux.running.delete('demo-1');
    // While it still passes its readiness probe (the leader's view may lag, e.g. after an
    // election), it is not restarted out of turn.
    await reconcile(w.ctx(), ref);
    expect(restarts(w)).toEqual([]);
    const pod1 = w.kube.peek('Pod', 'conflux', 'demo-1')!;
    w.kube.put('Pod', { ...pod1, status: { ...pod1.status, conditions: [{ type: 'Ready', status: 'False' }] } });
    await reconcile(w.ctx(), ref);
    expect(restarts(w)).toEqual(['demo-1']);
    expect(w.kube.events.find((e) => e.reason === 'PodRestarted')!.message).toContain('a voter the leader does not hear from');
    await converge(w, undefined, 80);
    expect(restarts(w)).toEqual(['demo-1', 'demo-2', 'demo-0']);
    expect(images(w)).toEqual(['demo-0=conflux:0.2.0', 'demo-1=conflux:0.2.0', 'demo-2=conflux:0.2.0']);
  });

  it('replaces a stale pod stuck Pending (the fixed template is the only way out) while the membership step waits on it', async () => {
    const w = new World({ replicas: 3 });
    await converge(w, undefined, 80);
    // Scaling to 4 with a template whose pod cannot be scheduled.
    w.pending.add('demo-3');
    w.setSpec({ replicas: 4, podTemplate: { spec: { nodeSelector: { disk: 'none' } } } });
    for (let i = 0; i < 4; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
      w.nowMs += 1000;
    }
    expect(w.statefulSet()!.spec!.replicas).toBe(4);
    expect(w.kube.peek('Pod', 'conflux', 'demo-3')!.status!.phase).toBe('Pending');
    // The user fixes the template. The pod created from the broken one stays Pending forever
    // (OnDelete), and the membership step waits for it: the rollout must replace it.
    w.setSpec({ podTemplate: {} });
    w.sync();
    await reconcile(w.ctx(), ref); // patches the template
    w.sync();
    await reconcile(w.ctx(), ref);
    expect(restarts(w)).toEqual(['demo-3']);
    expect(w.kube.events.find((e) => e.reason === 'PodRestarted')!.message).toContain('(Pending)');
    w.pending.clear();
    await converge(w, undefined, 80);
    expect(w.conflux.config()).toEqual(['demo-0:voter', 'demo-1:voter', 'demo-2:voter', 'demo-3:voter']);
    expect(w.pods().every((p) => p.spec!.nodeSelector === undefined)).toBe(true);
    // The three old pods already run the (original, restored) template: not restarted.
    expect(restarts(w)).toEqual(['demo-3']);
  });

  it('before the bootstrap, replaces stale pods that hold no data', async () => {
    const w = new World({ replicas: 2 });
    w.pending.add('demo-0');
    w.pending.add('demo-1');
    w.sync();
    await reconcile(w.ctx(), ref); // creates the StatefulSet
    w.sync();
    w.setSpec({ image: 'conflux:0.2.0' });
    w.sync();
    await reconcile(w.ctx(), ref); // patches the template
    w.sync();
    await reconcile(w.ctx(), ref);
    w.sync();
    await reconcile(w.ctx(), ref);
    expect(restarts(w).sort()).toEqual(['demo-0', 'demo-1']);
    w.pending.clear();
    await converge(w, undefined, 80);
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1']);
    expect(images(w)).toEqual(['demo-0=conflux:0.2.0', 'demo-1=conflux:0.2.0']);
  });

  it('restarts nothing without a leader', async () => {
    const w = new World({ replicas: 3 });
    await converge(w, undefined, 80);
    w.conflux.partitioned = true;
    w.setSpec({ image: 'conflux:0.2.0' });
    for (let i = 0; i < 4; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
      w.nowMs += 1000;
    }
    expect(w.kube.calls.filter((c) => c.op === 'delete')).toEqual([]);
    expect(w.cluster().status!.conditions!.find((c) => c.type === 'Progressing')!.message).toContain('until a leader answers');
  });
});
