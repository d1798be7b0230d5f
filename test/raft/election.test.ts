import { describe, expect, it } from 'vitest';
import { Net } from './harness.js';

describe('§5.2 leader election', () => {
  it('a single voter elects itself and commits its blank entry', () => {
    const net = Net.bootstrap(['a']);
    net.elect('a');
    const s = net.node('a').core.status();
    expect(s.role).toBe('leader');
    expect(s.term).toBe(2);
    expect(s.commit).toBe(2);
  });

  it('three voters elect exactly one leader, and followers learn it', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    expect(net.leaders()).toEqual(['a']);
    expect(net.node('b').core.status().leaderId).toBe('a');
    expect(net.node('c').core.status().leaderId).toBe('a');
  });

  it('persists term and vote before any vote request leaves (Figure 2)', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    const a = net.node('a').core;
    // Pre-vote round first: it changes no term.
    for (let i = 0; i < 30 && a.status().role === 'follower'; i++) a.tick();
    const pre = a.takeActions();
    expect(a.status().role).toBe('pre-candidate');
    expect(pre.some((x) => x.kind === 'persist')).toBe(false);
    for (const x of pre) if (x.kind === 'send') net.deliver(x.msg);
    for (const id of ['b', 'c']) for (const x of net.node(id).core.takeActions()) if (x.kind === 'send') a.step(x.msg);
    const actions = a.takeActions();
    const persistAt = actions.findIndex((x) => x.kind === 'persist');
    const firstVote = actions.findIndex((x) => x.kind === 'send' && x.msg.type === 'vote');
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(firstVote).toBeGreaterThan(persistAt);
    const persist = actions[persistAt]!;
    expect(persist.kind === 'persist' && persist.hardState).toMatchObject({ term: 2, vote: 'a' });
  });
});

describe('§9.6 pre-vote and §6.2 check-quorum', () => {
  it('a partitioned node does not raise its term, and does not depose the leader when it returns', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    const term = net.node('a').core.status().term;
    net.isolate('c');
    net.tickAll(100);
    expect(net.node('c').core.status().term).toBe(term);
    net.heal();
    net.tickAll(5);
    expect(net.leaders()).toEqual(['a']);
    expect(net.node('a').core.status().term).toBe(term);
  });

  it('a leader that cannot reach a quorum steps down', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    net.tickAll(25);
    expect(net.node('a').core.status().role).not.toBe('leader');
  });

  it('the majority side elects a new leader while the old one is cut off', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    net.tickAll(60);
    const leaders = net.leaders();
    expect(leaders.length).toBe(1);
    expect(leaders[0]).not.toBe('a');
  });
});
