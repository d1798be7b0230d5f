import { describe, expect, it } from 'vitest';
import { Net } from './harness.js';

describe('§7 log compaction and InstallSnapshot', () => {
  it('asks the driver for a snapshot every snapshotEntries applied entries and compacts behind it', () => {
    const net = Net.bootstrap(['a'], { snapshotEntries: 10, compactionKeepEntries: 2 });
    net.elect('a');
    for (let i = 0; i < 12; i++) net.propose('a', `v${i}`);
    net.stabilize();
    net.stabilize();
    const a = net.node('a');
    expect(a.snapshotRequests.length).toBe(1);
    const snapAt = a.snapshotRequests[0]!;
    expect(snapAt).toBeGreaterThanOrEqual(10);
    expect(a.core.status().snapshotIndex).toBe(snapAt);
    // Entries up to snapAt - 2 were dropped from the durable log, the last two kept for catch-up.
    expect(a.log[0]!.index).toBe(snapAt - 1);
  });

  it('sends a snapshot to a follower whose next entry was compacted, then resumes replication', () => {
    const net = Net.bootstrap(['a', 'b', 'c'], { snapshotEntries: 5, compactionKeepEntries: 0 });
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 20; i++) {
      net.propose('a', `v${i}`);
      net.stabilize();
    }
    expect(net.node('a').core.status().snapshotIndex).toBeGreaterThan(1);
    net.heal();
    net.tickAll(3);
    const sent = net.node('a').sentSnapshots;
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent[0]!.to).toBe('c');
    expect(net.node('a').core.status().progress['c']!.state).toBe('snapshot');
    // The driver streams the data; the core sees the meta message and the report.
    const meta = sent[0]!.meta;
    net.node('c').core.step({ type: 'snapshot', meta, clusterId: 'c1', from: 'a', fromIncarnation: 'inc-a', to: 'c', toIncarnation: 'inc-c', term: net.node('a').core.status().term });
    const cActions = net.drain('c');
    const installAt = cActions.findIndex((x) => x.kind === 'install-snapshot');
    const ackAt = cActions.findIndex((x) => x.kind === 'send' && x.msg.type === 'append_resp');
    expect(installAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeGreaterThan(installAt);
    net.node('a').core.reportSnapshot('c', true);
    net.stabilize();
    net.propose('a', 'after');
    net.stabilize();
    net.tickAll(2);
    expect(net.node('c').core.status().commit).toBe(net.node('a').core.status().commit);
    expect(net.appliedText('c').at(-1)).toBe('after');
    expect(net.node('a').core.status().progress['c']!.state).toBe('replicate');
  });

  it('a failed snapshot transfer is retried', () => {
    const net = Net.bootstrap(['a', 'b', 'c'], { snapshotEntries: 5, compactionKeepEntries: 0 });
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 12; i++) {
      net.propose('a', `v${i}`);
      net.stabilize();
    }
    net.heal();
    net.tickAll(2);
    expect(net.node('a').sentSnapshots.length).toBe(1);
    net.node('a').core.reportSnapshot('c', false);
    net.tickAll(3);
    expect(net.node('a').sentSnapshots.length).toBe(2);
  });

  it('a follower ignores a snapshot older than its commit index', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.stabilize();
    net.tickAll(1);
    const b = net.node('b').core;
    b.step({ type: 'snapshot', meta: { index: 1, term: 1, membership: b.status().membership }, clusterId: 'c1', from: 'a', fromIncarnation: 'inc-a', to: 'b', toIncarnation: 'inc-b', term: b.status().term });
    const actions = b.takeActions();
    expect(actions.some((x) => x.kind === 'install-snapshot')).toBe(false);
    expect(actions.find((x) => x.kind === 'send')).toMatchObject({ msg: { type: 'append_resp', success: true, matchIndex: 3 } });
  });
});
