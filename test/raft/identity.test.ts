import { describe, expect, it } from 'vitest';
import { emptyState } from '../../node/src/raft/config.js';
import { RaftCore } from '../../node/src/raft/core.js';
import type { Message } from '../../node/src/raft/types.js';
import { makeConfig, member, Net } from './harness.js';

const heartbeat = (over: Partial<Message> = {}): Message =>
  ({ type: 'heartbeat', commit: 0, readSeq: 0, clusterId: 'c1', from: 'a', fromIncarnation: 'inc-a', to: 'b', toIncarnation: 'inc-b', term: 9, ...over }) as Message;

describe('design §2 identity: clusterId and incarnation', () => {
  it('refuses a message from another cluster without adopting its term', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    const b = net.node('b').core;
    b.step(heartbeat({ clusterId: 'other' }));
    expect(b.status().term).toBe(1);
    expect(b.takeActions()).toContainEqual({ kind: 'event', event: expect.objectContaining({ type: 'message-refused', reason: 'cluster_mismatch' }) });
  });

  it('refuses a message addressed to another incarnation of itself', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    const b = net.node('b').core;
    b.step(heartbeat({ toIncarnation: 'inc-old' }));
    expect(b.status().term).toBe(1);
    expect(b.takeActions()).toContainEqual({ kind: 'event', event: expect.objectContaining({ reason: 'incarnation_mismatch' }) });
  });

  it('never counts an answer from another incarnation of a member (a wiped node)', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('b');
    net.isolate('c');
    const a = net.node('a').core;
    const r = a.propose(new TextEncoder().encode('x'));
    if (!r.ok) throw new Error('not leader');
    net.drain('a');
    const commit = a.status().commit;
    const refusal = a.step({ type: 'append_resp', success: true, matchIndex: r.index, rejectHint: null, clusterId: 'c1', from: 'b', fromIncarnation: 'inc-b-wiped', to: 'a', toIncarnation: 'inc-a', term: a.status().term });
    expect(refusal).toMatchObject({ reason: 'incarnation_mismatch' });
    expect(a.status().commit).toBe(commit);
  });

  it('accepts requests from a leader whose incarnation its stale configuration does not know yet', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    const b = net.node('b').core;
    expect(b.step(heartbeat({ fromIncarnation: 'inc-a-new', term: 2 }))).toBeNull();
    expect(b.status().leaderId).toBe('a');
  });

  it('refuses malformed messages without changing state', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    const b = net.node('b').core;
    const bad: unknown[] = [
      null,
      { type: 'heartbeat' },
      { ...heartbeat(), term: -1 },
      { ...heartbeat(), term: 1.5 },
      { ...heartbeat(), type: 'nonsense' },
      { ...heartbeat(), type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 5, term: 1, kind: 'normal', data: new Uint8Array() }] },
      { ...heartbeat(), type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 99, kind: 'normal', data: new Uint8Array() }] },
      { ...heartbeat(), type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, kind: 'weird', data: new Uint8Array() }] },
      { ...heartbeat(), type: 'snapshot', meta: { index: 1 } },
      { ...heartbeat(), type: 'vote', preVote: 'yes', transfer: false, lastLogIndex: 0, lastLogTerm: 0 },
    ];
    for (const m of bad) b.step(m as Message);
    expect(b.status().term).toBe(1);
    const refusals = b.takeActions().filter((x) => x.kind === 'event' && x.event.type === 'message-refused');
    expect(refusals.length).toBe(bad.length);
  });

  it('a node waiting to be added adopts the cluster id of the leader that adds it', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    const d = new RaftCore(makeConfig('d', { clusterId: '' }), emptyState());
    net.nodes.set('d', { id: 'd', core: d, hardState: { term: 0, vote: null, commit: 0 }, log: [], snapshot: null, applied: [], events: [], reads: [], failedReads: [], snapshotRequests: [], sentSnapshots: [] });
    const { role: _r, ...m } = member('d');
    net.node('a').core.changeMembership({ type: 'add-learner', member: m });
    net.stabilize();
    net.tickAll(2);
    expect(d.status().clusterId).toBe('c1');
    expect(d.status().commit).toBe(net.node('a').core.status().commit);
  });

  it('a node with a wiped disk is refused until removed and re-added with its new incarnation', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.stabilize();
    // c loses its disk: a fresh core with a new incarnation, waiting to be added.
    const fresh = new RaftCore(makeConfig('c', { clusterId: '', incarnation: 'inc-c2' }), emptyState());
    net.nodes.set('c', { id: 'c', core: fresh, hardState: { term: 0, vote: null, commit: 0 }, log: [], snapshot: null, applied: [], events: [], reads: [], failedReads: [], snapshotRequests: [], sentSnapshots: [] });
    net.tickAll(3);
    expect(fresh.status().commit).toBe(0);
    expect(net.node('c').events.some((e) => e.type === 'message-refused' && e.reason === 'incarnation_mismatch')).toBe(true);
    const a = net.node('a').core;
    expect(a.changeMembership({ type: 'remove', id: 'c' }).ok).toBe(true);
    net.stabilize();
    net.tickAll(1);
    expect(a.changeMembership({ type: 'add-learner', member: { ...member('c'), incarnation: 'inc-c2' } }).ok).toBe(true);
    net.stabilize();
    net.tickAll(3);
    expect(net.appliedText('c')).toEqual(['x']);
  });

  it('pins the incarnations of a statically bootstrapped cluster', () => {
    const net = new Net();
    const boot = { members: ['a', 'b', 'c'].map((id) => ({ ...member(id), incarnation: '' })) };
    const { bootstrapState } = awaitImport;
    for (const id of ['a', 'b', 'c']) net.add(id, bootstrapState(boot));
    net.elect('a');
    net.tickAll(10);
    const members = net.node('b').core.status().membership.members;
    expect(members.map((m) => m.incarnation).sort()).toEqual(['inc-a', 'inc-b', 'inc-c']);
  });
});

import * as awaitImport from '../../node/src/raft/config.js';
