import { describe, expect, it } from 'vitest';
import { Net } from './harness.js';

describe('thesis §6.4 linearizable reads with ReadIndex', () => {
  it('answers after a quorum confirms leadership, with the commit index at request time', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.stabilize();
    const commit = net.node('a').core.status().commit;
    expect(net.node('a').core.readIndex(7)).toEqual({ ok: true });
    // Nothing is ready before the heartbeat round comes back.
    const first = net.node('a').core.takeActions();
    expect(first.some((x) => x.kind === 'read-ready')).toBe(false);
    expect(first.filter((x) => x.kind === 'send' && x.msg.type === 'heartbeat').length).toBe(2);
    for (const x of first) if (x.kind === 'send') net.deliver(x.msg);
    net.stabilize();
    expect(net.node('a').reads).toEqual([{ id: 7, index: commit }]);
  });

  it('batches reads: many requests share one heartbeat round', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    for (let i = 0; i < 50; i++) net.node('a').core.readIndex(i);
    const actions = net.node('a').core.takeActions();
    expect(actions.filter((x) => x.kind === 'send' && x.msg.type === 'heartbeat').length).toBe(2);
    for (const x of actions) if (x.kind === 'send') net.deliver(x.msg);
    net.stabilize();
    expect(net.node('a').reads.length).toBe(50);
  });

  it('a leader cut off from the quorum never answers the read, and fails it when it steps down', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    net.node('a').core.readIndex(1);
    net.tickAll(30);
    expect(net.node('a').reads).toEqual([]);
    expect(net.node('a').failedReads).toEqual([1]);
  });

  it('waits for the new leader to commit an entry of its term first', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.cut.add('b->a');
    net.cut.add('c->a');
    // a becomes leader only after we let votes through; hold its blank entry's acknowledgements.
    net.heal();
    const a = net.node('a').core;
    for (let i = 0; i < 40 && a.status().role !== 'leader'; i++) {
      a.tick();
      for (const id of ['a', 'b', 'c']) {
        const acts = net.node(id).core.takeActions();
        for (const x of acts) {
          if (x.kind === 'send' && !(x.msg.type === 'append_resp')) net.deliver(x.msg);
          if (x.kind === 'persist' && x.entries.length) net.node(id).core.persisted(x.entries.at(-1)!.index, x.entries.at(-1)!.term);
        }
      }
    }
    expect(a.status().role).toBe('leader');
    expect(a.readIndex(9)).toEqual({ ok: true });
    expect(a.takeActions().some((x) => x.kind === 'read-ready')).toBe(false);
    net.stabilize();
    net.tickAll(2);
    expect(net.node('a').reads.map((r) => r.id)).toEqual([9]);
  });

  it('a follower refuses and names the leader', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    expect(net.node('b').core.readIndex(1)).toEqual({ ok: false, code: 'not_leader', leaderId: 'a' });
  });

  it('with leaseReads, a leader that heard from a quorum recently answers at once', () => {
    const net = Net.bootstrap(['a', 'b', 'c'], { leaseReads: true });
    net.elect('a');
    net.tickAll(1);
    net.node('a').core.readIndex(3);
    const actions = net.node('a').core.takeActions();
    expect(actions.some((x) => x.kind === 'read-ready' && x.id === 3)).toBe(true);
    // Once the quorum has been silent for a while the lease is gone.
    net.isolate('a');
    net.tickAll(6);
    net.node('a').core.readIndex(4);
    expect(net.node('a').core.takeActions().some((x) => x.kind === 'read-ready' && x.id === 4)).toBe(false);
  });
});
