import { describe, expect, it } from 'vitest';
import { RaftCore } from '../../node/src/raft/core.js';
import type { Action, Entry, Message } from '../../node/src/raft/types.js';
import { makeConfig, membershipOf, Net } from './harness.js';

import { bootstrapState } from '../../node/src/raft/config.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('§5.3 log replication', () => {
  it('replicates proposals to every node and applies them in order', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    for (let i = 0; i < 10; i++) expect(net.propose('a', `v${i}`).ok).toBe(true);
    net.stabilize();
    net.tickAll(1);
    const expected = Array.from({ length: 10 }, (_, i) => `v${i}`);
    for (const id of ['a', 'b', 'c']) expect(net.appliedText(id)).toEqual(expected);
  });

  it('batches: many proposals between two drains travel in one AppendEntries per follower', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    for (let i = 0; i < 100; i++) net.propose('a', `v${i}`);
    const actions = net.node('a').core.takeActions();
    const appends = actions.filter((x): x is Extract<Action, { kind: 'send' }> => x.kind === 'send' && x.msg.type === 'append');
    expect(appends.map((x) => x.msg.to).sort()).toEqual(['b', 'c']);
    for (const x of appends) expect(x.msg.type === 'append' && x.msg.entries.length).toBe(100);
  });

  it('sends AppendEntries before its own persist (thesis §10.2.1) but counts itself only once durable', () => {
    const net = Net.bootstrap(['a']);
    net.elect('a');
    const a = net.node('a').core;
    const r = net.propose('a', 'x');
    expect(r.ok).toBe(true);
    const actions = a.takeActions();
    const persist = actions.find((x) => x.kind === 'persist');
    expect(persist).toBeDefined();
    // The new entry is not applied in the same batch: the leader has not confirmed its own write yet.
    expect(actions.some((x) => x.kind === 'apply' && x.entries.some((e) => e.index === 3))).toBe(false);
    expect(a.status().commit).toBe(2);
    if (r.ok) a.persisted(r.index, r.term);
    expect(a.status().commit).toBe(3);
    const next = a.takeActions();
    expect(next.find((x) => x.kind === 'apply')).toMatchObject({ entries: [{ index: 3 }] });
  });

  it('pipelines up to maxInflightAppends appends to a follower before any answer', () => {
    const net = Net.bootstrap(['a', 'b', 'c'], { maxEntriesPerAppend: 1, maxInflightAppends: 3 });
    net.elect('a');
    for (let i = 0; i < 10; i++) net.propose('a', `v${i}`);
    const actions = net.node('a').core.takeActions();
    const toB = actions.filter((x) => x.kind === 'send' && x.msg.type === 'append' && x.msg.to === 'b');
    expect(toB.length).toBe(3);
  });

  it('a follower acknowledges only after the persist that holds the entries', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    for (const x of net.node('a').core.takeActions()) if (x.kind === 'send' && x.msg.to === 'b') net.node('b').core.step(x.msg);
    const actions = net.node('b').core.takeActions();
    const persistAt = actions.findIndex((x) => x.kind === 'persist');
    const ackAt = actions.findIndex((x) => x.kind === 'send' && x.msg.type === 'append_resp');
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeGreaterThan(persistAt);
  });

  it('fast backtracking: a follower with a long conflicting tail is repaired in few round trips', () => {
    // b was leader of term 2 alone and wrote 50 entries nobody else has.
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('b');
    net.isolate('b');
    for (let i = 0; i < 50; i++) net.propose('b', `lost${i}`);
    net.stabilize();
    net.tickAll(60);
    const leader = net.leaders().find((x) => x !== 'b')!;
    net.propose(leader, 'kept');
    net.stabilize();
    net.heal();
    const before = net.delivered.length;
    net.tickAll(3);
    const rejections = net.delivered.slice(before).filter((m) => m.type === 'append_resp' && !m.success && m.from === 'b');
    expect(rejections.length).toBeLessThanOrEqual(3);
    expect(net.appliedText('b')).toEqual(['kept']);
  });

  it('a lost AppendEntries is recovered through the heartbeat answer', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('a->b');
    net.propose('a', 'x');
    net.stabilize();
    net.heal();
    net.tickAll(3);
    expect(net.appliedText('b')).toEqual(['x']);
  });
});

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  it('the old-term entry stays uncommitted while no current-term entry reached a majority', () => {
    const ids = ['s1', 's2', 's3'];
    const boot = bootstrapState(membershipOf(ids));
    const e2: Entry = { index: 2, term: 2, kind: 'normal', data: text('old') };
    const s1 = new RaftCore(makeConfig('s1'), { hardState: { term: 2, vote: null, commit: 1 }, snapshot: null, entries: [...boot.entries, e2], applied: 0 });
    // Elect s1 by hand, feeding it votes, and drop every AppendEntries it sends.
    for (let i = 0; i < 40 && s1.status().role !== 'pre-candidate'; i++) s1.tick();
    s1.takeActions();
    const grant = (from: string, preVote: boolean, term: number): Message => ({
      type: 'vote_resp', preVote, granted: true, clusterId: 'c1', from, fromIncarnation: `inc-${from}`, to: 's1', toIncarnation: 'inc-s1', term,
    });
    s1.step(grant('s2', true, 3));
    s1.takeActions();
    s1.step(grant('s2', false, 3));
    expect(s1.status().role).toBe('leader');
    const actions = s1.takeActions();
    const persist = actions.find((x) => x.kind === 'persist');
    if (persist?.kind === 'persist') s1.persisted(persist.entries.at(-1)!.index, persist.entries.at(-1)!.term);
    // s2 acknowledges index 2 only (it has the old entry, not the blank one yet).
    s1.step({ type: 'append_resp', success: true, matchIndex: 2, rejectHint: null, clusterId: 'c1', from: 's2', fromIncarnation: 'inc-s2', to: 's1', toIncarnation: 'inc-s1', term: 3 });
    expect(s1.status().commit).toBe(1);
    s1.step({ type: 'append_resp', success: true, matchIndex: 3, rejectHint: null, clusterId: 'c1', from: 's2', fromIncarnation: 'inc-s2', to: 's1', toIncarnation: 'inc-s1', term: 3 });
    expect(s1.status().commit).toBe(3);
  });
});

describe('applying committed entries without waiting for the next fsync', () => {
  it('puts entries that are committed and durable before the next persist in the same batch', () => {
    const net = Net.bootstrap(['a']);
    net.elect('a');
    const a = net.node('a').core;
    const first = net.propose('a', 'x');
    const batch1 = a.takeActions();
    expect(batch1.some((x) => x.kind === 'apply' && x.entries.some((e) => e.index === 3))).toBe(false);
    if (first.ok) a.persisted(first.index, first.term); // durable and (one voter) committed
    net.propose('a', 'y'); // arrives while nothing applied entry 3 yet
    const kinds = a.takeActions().map((x) => (x.kind === 'apply' ? `apply:${x.entries.map((e) => e.index).join(',')}` : x.kind));
    expect(kinds.indexOf('apply:3')).toBeGreaterThanOrEqual(0);
    expect(kinds.indexOf('apply:3')).toBeLessThan(kinds.indexOf('persist'));
  });

  it('takeDurableApplies hands over exactly the committed, durable, unapplied entries, once', () => {
    const net = Net.bootstrap(['a']);
    net.elect('a');
    const a = net.node('a').core;
    const r = net.propose('a', 'x');
    a.takeActions();
    expect(a.takeDurableApplies()).toEqual([]); // not durable yet
    if (r.ok) a.persisted(r.index, r.term);
    expect(a.takeDurableApplies().map((e) => e.index)).toEqual([3]);
    expect(a.takeDurableApplies()).toEqual([]);
    expect(a.takeActions().some((x) => x.kind === 'apply')).toBe(false);
  });
});

describe('telling followers the commit index', () => {
  it('a follower whose answer arrives after the commit moved learns the new commit at once, not with the next heartbeat', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    const r = net.propose('a', 'x');
    if (!r.ok) throw new Error('not proposed');
    net.drain('a'); // appends to b and c go out; a persists its own copy
    // b and c store the entry and answer; b's answer arrives first and commits it.
    for (const m of net.queue.splice(0)) net.deliver(m);
    net.drain('b');
    net.drain('c');
    const answers = net.queue.splice(0);
    const fromB = answers.filter((m) => m.from === 'b');
    const fromC = answers.filter((m) => m.from === 'c');
    for (const m of fromB) net.deliver(m);
    net.drain('a');
    expect(net.node('a').core.status().commit).toBe(r.index);
    net.queue.length = 0; // whatever a sent to b meanwhile is not the point
    // c's answer comes after the commit: a tells c the commit index right away.
    for (const m of fromC) net.deliver(m);
    net.drain('a');
    const toC = net.queue.filter((m) => m.to === 'c' && m.type === 'append');
    expect(toC.map((m) => m.type === 'append' && m.commit)).toContain(r.index);
    for (const m of net.queue.splice(0)) net.deliver(m);
    net.drain('c');
    expect(net.node('c').core.status().commit).toBe(r.index);
    expect(net.appliedText('c')).toContain('x');
  });

  it('the commit-only append is marked, and the follower takes it without answering', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.stabilize();
    const before = net.delivered.length;
    const r = net.propose('a', 'x');
    if (!r.ok) throw new Error('not proposed');
    net.stabilize();
    const sent = net.delivered.slice(before);
    // One append carries x to each follower, and one empty, marked append its commit.
    expect(sent.filter((m) => m.type === 'append' && m.entries.length === 1).map((m) => m.to).sort()).toEqual(['b', 'c']);
    const notices = sent.filter((m) => m.type === 'append' && m.entries.length === 0);
    expect(notices.map((m) => m.to).sort()).toEqual(['b', 'c']);
    for (const m of notices) expect(m).toMatchObject({ type: 'append', commitOnly: true, commit: r.index, prevIndex: r.index });
    // Nobody answered them: the last answers the leader got are those to the entry itself.
    expect(sent.filter((m) => m.type === 'append_resp').map((m) => m.from).sort()).toEqual(['b', 'c']);
    for (const id of ['b', 'c']) expect(net.node(id).core.status().commit).toBe(r.index);
    expect(net.appliedText('c')).toContain('x');
  });

  it('an unmarked empty append (a node that predates the mark) is still answered', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    const r = net.propose('a', 'x');
    if (!r.ok) throw new Error('not proposed');
    net.stabilize();
    const b = net.node('b').core;
    const s = b.status();
    b.step({ type: 'append', prevIndex: r.index, prevTerm: s.term, entries: [], commit: r.index, clusterId: s.clusterId, from: 'a', fromIncarnation: 'inc-a', to: 'b', toIncarnation: 'inc-b', term: s.term });
    const sends = b.takeActions().filter((x) => x.kind === 'send');
    expect(sends).toMatchObject([{ msg: { type: 'append_resp', success: true, matchIndex: r.index } }]);
  });

  it('refuses a commit-only mark on an append that carries entries, or one that is not true', () => {
    const net = Net.bootstrap(['a', 'b']);
    net.elect('a');
    const b = net.node('b').core;
    const s = b.status();
    const base = { type: 'append' as const, prevIndex: 1, prevTerm: 1, commit: 1, clusterId: s.clusterId, from: 'a', fromIncarnation: 'inc-a', to: 'b', toIncarnation: 'inc-b', term: s.term };
    const entry: Entry = { index: 2, term: s.term, kind: 'normal', data: text('y') };
    expect(b.step({ ...base, entries: [entry], commitOnly: true })).toMatchObject({ reason: 'malformed' });
    expect(b.step({ ...base, entries: [], commitOnly: false } as unknown as Message)).toMatchObject({ reason: 'malformed' });
  });

  it('does not repeat a commit index a follower was already told (no ping-pong of empty appends)', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.stabilize();
    const before = net.delivered.length;
    // A quiet cluster stays quiet: answers to the last appends do not trigger new ones.
    net.stabilize();
    expect(net.delivered.length).toBe(before);
  });
});
