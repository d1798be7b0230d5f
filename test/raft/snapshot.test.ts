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

  /** Data bytes of the applied entries in (from, to]. */
  function appliedBytes(net: Net, id: string, from: number, to: number): number {
    return net
      .node(id)
      .applied.filter((e) => e.index > from && e.index <= to)
      .reduce((sum, e) => sum + e.data.length, 0);
  }

  /** Spans between consecutive snapshot requests: [entries, data bytes]. */
  function snapshotSpans(net: Net, id: string): [number, number][] {
    const at = [0, ...net.node(id).snapshotRequests];
    return at.slice(1).map((to, i) => [to - at[i]!, appliedBytes(net, id, at[i]!, to)]);
  }

  it('asks for a snapshot once the entries applied since the last one hold snapshotBytes, long before snapshotEntries', () => {
    const net = Net.bootstrap(['a'], { snapshotEntries: 1000, snapshotBytes: 100 });
    net.elect('a');
    for (let i = 0; i < 60; i++) {
      net.propose('a', `value-${String(i).padStart(3, '0')}`); // 9 bytes each
      net.stabilize();
    }
    const spans = snapshotSpans(net, 'a');
    expect(spans.length).toBeGreaterThanOrEqual(4);
    for (const [entries, bytes] of spans.slice(1)) {
      // The first span holds the bootstrap configuration entry; later ones only 9-byte values.
      expect(bytes).toBeGreaterThanOrEqual(100);
      expect(entries).toBeLessThanOrEqual(13);
    }
  });

  it('waits for as many bytes as the last snapshot took when that is more than snapshotBytes', () => {
    const net = Net.bootstrap(['a'], { snapshotEntries: 1000, snapshotBytes: 100 });
    net.node('a').snapshotSizeBytes = 400;
    net.elect('a');
    for (let i = 0; i < 150; i++) {
      net.propose('a', `value-${String(i).padStart(3, '0')}`);
      net.stabilize();
    }
    const spans = snapshotSpans(net, 'a');
    expect(spans.length).toBeGreaterThanOrEqual(2);
    // The first snapshot came at 100 bytes (no snapshot yet to compare with); after it, 400.
    for (const [, bytes] of spans.slice(1)) expect(bytes).toBeGreaterThanOrEqual(400);
  });

  it('keeps at most snapshotBytes of entries behind a snapshot, whatever compactionKeepEntries says', () => {
    const net = Net.bootstrap(['a'], { snapshotEntries: 1000, snapshotBytes: 50, compactionKeepEntries: 100 });
    net.elect('a');
    for (let i = 0; i < 200; i++) {
      net.propose('a', `value-${String(i).padStart(3, '0')}`);
      net.stabilize();
    }
    const a = net.node('a');
    const snapAt = a.core.status().snapshotIndex;
    expect(snapAt).toBeGreaterThan(150);
    const kept = a.log.filter((e) => e.index <= snapAt);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.reduce((sum, e) => sum + e.data.length, 0)).toBeLessThanOrEqual(50);
    expect(a.log.length).toBeLessThan(15);
  });

  it.each([
    ['re-applies', 0],
    ['had applied before the restart', 22],
  ])('counts the entries a restarted node %s towards snapshotBytes', (_, applied) => {
    const net = Net.bootstrap(['a'], { snapshotEntries: 1000, snapshotBytes: 100_000 });
    net.elect('a');
    for (let i = 0; i < 20; i++) net.propose('a', 'x'.repeat(100));
    net.stabilize();
    const before = net.node('a');
    expect(before.snapshotRequests).toEqual([]);
    expect(before.log.at(-1)!.index).toBe(22);
    // Restart from the same disk (everything committed) with a bound the log already exceeds.
    const restarted = new Net();
    const hardState = { ...before.hardState, commit: 22 };
    restarted.add('a', { hardState, snapshot: null, entries: before.log, applied }, { snapshotEntries: 1000, snapshotBytes: 1500 });
    restarted.stabilize();
    expect(restarted.node('a').snapshotRequests).toEqual([22]);
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
