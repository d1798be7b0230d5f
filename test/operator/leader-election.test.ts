// Lease-based leader election against FakeKube on a manual clock.
import { describe, expect, it } from 'vitest';
import { KubeError } from '../../operator/src/kube.js';
import { LeaderElector, type LeaderElectionOptions } from '../../operator/src/leader-election.js';
import { silentLogger } from '../../operator/src/logger.js';
import { FakeKube } from './fake-kube.js';
import { ManualTimers } from './manual-timers.js';

const base: Omit<LeaderElectionOptions, 'identity'> = {
  namespace: 'ops',
  name: 'conflux-operator',
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

function candidate(kube: FakeKube, timers: ManualTimers, identity: string) {
  const log: string[] = [];
  const e = new LeaderElector(kube, timers, silentLogger, { ...base, identity }, {
    onStartedLeading: () => log.push('started'),
    onStoppedLeading: () => log.push('stopped'),
  });
  return { e, log };
}

const holder = (kube: FakeKube) => kube.peek('Lease', 'ops', 'conflux-operator')?.spec?.holderIdentity;

describe('LeaderElector', () => {
  it('takes a missing Lease and renews it', async () => {
    const kube = new FakeKube();
    const timers = new ManualTimers();
    const { e, log } = candidate(kube, timers, 'op-1');
    e.start();
    await timers.advance(0);
    expect(e.isLeader()).toBe(true);
    expect(log).toEqual(['started']);
    const lease = kube.peek('Lease', 'ops', 'conflux-operator')!;
    expect(lease.spec).toMatchObject({ holderIdentity: 'op-1', leaseDurationSeconds: 15, leaseTransitions: 0 });
    const first = new Date(lease.spec!.renewTime!).getTime();
    await timers.advance(2_000);
    expect(new Date(kube.peek('Lease', 'ops', 'conflux-operator')!.spec!.renewTime!).getTime()).toBe(first + 2_000);
    expect(log).toEqual(['started']);
  });

  it('a second candidate waits while the holder renews, and takes over once it stops renewing', async () => {
    const kube = new FakeKube();
    const timers = new ManualTimers();
    const one = candidate(kube, timers, 'op-1');
    const two = candidate(kube, timers, 'op-2');
    one.e.start();
    await timers.advance(0);
    two.e.start();
    await timers.advance(30_000);
    expect(holder(kube)).toBe('op-1');
    expect(two.e.isLeader()).toBe(false);
    // op-1 hangs (no more attempts, no release): op-2 takes over one lease duration after the
    // last renewal it saw, measured on its own clock.
    (one.e as unknown as { tick: () => void }).tick = () => undefined;
    await timers.advance(14_000);
    expect(holder(kube)).toBe('op-1');
    await timers.advance(4_000);
    expect(holder(kube)).toBe('op-2');
    expect(two.log).toEqual(['started']);
    expect(kube.peek('Lease', 'ops', 'conflux-operator')!.spec!.leaseTransitions).toBe(1);
  });

  it('a leader that cannot renew within the deadline stops leading', async () => {
    const kube = new FakeKube();
    const timers = new ManualTimers();
    const { e, log } = candidate(kube, timers, 'op-1');
    e.start();
    await timers.advance(0);
    kube.failOn({ op: 'get', kind: 'Lease' }, new KubeError(503, 'unavailable'), 100);
    await timers.advance(10_000);
    expect(e.isLeader()).toBe(true);
    await timers.advance(2_000);
    expect(e.isLeader()).toBe(false);
    expect(log).toEqual(['started', 'stopped']);
  });

  it('loses a race on a conflicting write without harm', async () => {
    const kube = new FakeKube();
    const timers = new ManualTimers();
    const { e } = candidate(kube, timers, 'op-1');
    kube.failOn({ op: 'create', kind: 'Lease' }, new KubeError(409, 'exists', 'AlreadyExists'));
    expect(await e.tryAcquireOrRenew()).toBe(false);
    kube.put('Lease', { metadata: { name: 'conflux-operator', namespace: 'ops' }, spec: { holderIdentity: '', leaseDurationSeconds: 1 } });
    kube.failOn({ op: 'replace', kind: 'Lease' }, new KubeError(409, 'modified', 'Conflict'));
    expect(await e.tryAcquireOrRenew()).toBe(false);
    expect(await e.tryAcquireOrRenew()).toBe(true);
    kube.failOn({ op: 'replace', kind: 'Lease' }, new KubeError(500, 'boom'));
    await expect(e.tryAcquireOrRenew()).rejects.toThrow('boom');
    kube.remove('Lease', 'ops', 'conflux-operator');
    kube.failOn({ op: 'create', kind: 'Lease' }, new KubeError(500, 'boom'));
    await expect(e.tryAcquireOrRenew()).rejects.toThrow('boom');
  });

  it('releases the Lease on stop, so that a standby takes over at once', async () => {
    const kube = new FakeKube();
    const timers = new ManualTimers();
    const one = candidate(kube, timers, 'op-1');
    const two = candidate(kube, timers, 'op-2');
    one.e.start();
    await timers.advance(0);
    two.e.start();
    await timers.advance(0);
    await one.e.stop();
    expect(one.log).toEqual(['started', 'stopped']);
    expect(holder(kube)).toBe('');
    await timers.advance(2_000);
    expect(holder(kube)).toBe('op-2');
    await two.e.stop();
    // A stopped follower does not touch the Lease.
    await one.e.stop();
    expect(holder(kube)).toBe('');
  });

  it('keeps going after an error release', async () => {
    const kube = new FakeKube();
    const timers = new ManualTimers();
    const { e, log } = candidate(kube, timers, 'op-1');
    e.start();
    await timers.advance(0);
    kube.failOn({ op: 'get', kind: 'Lease' }, new KubeError(500, 'gone'));
    await e.stop();
    expect(log).toEqual(['started', 'stopped']);
  });

  it('refuses a renew deadline at or above the lease duration', () => {
    expect(() => new LeaderElector(new FakeKube(), new ManualTimers(), silentLogger, { ...base, identity: 'x', renewDeadlineMs: 15_000 }, { onStartedLeading() {}, onStoppedLeading() {} })).toThrow(/renewDeadlineMs/);
  });
});
