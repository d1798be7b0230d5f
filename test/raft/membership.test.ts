import { describe, expect, it } from 'vitest';
import { member, Net } from './harness.js';

const learnerOf = (id: string) => {
  const { role: _role, ...rest } = member(id);
  return rest;
};

describe('thesis §4 membership changes (single-server)', () => {
  it('adds a learner that receives the log but never votes or counts, then promotes it', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.add('d');
    net.propose('a', 'x');
    const r = net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('d') });
    expect(r.ok).toBe(true);
    net.stabilize();
    net.tickAll(3);
    expect(net.appliedText('d')).toEqual(['x']);
    expect(net.node('d').core.status().membership.members.find((m) => m.id === 'd')?.role).toBe('learner');
    // A learner never campaigns.
    net.isolate('d');
    net.tickAll(50);
    expect(net.node('d').core.status().role).toBe('follower');
    expect(net.node('d').core.status().term).toBe(net.node('a').core.status().term);
    net.heal();
    net.tickAll(2);
    expect(net.node('a').core.changeMembership({ type: 'promote', id: 'd' }).ok).toBe(true);
    net.stabilize();
    net.tickAll(2);
    expect(net.node('c').core.status().membership.members.filter((m) => m.role === 'voter').map((m) => m.id).sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('learners do not count toward commit', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.add('d');
    net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('d') });
    net.stabilize();
    net.tickAll(2);
    net.isolate('b');
    net.cut.add('a->c');
    const before = net.node('a').core.status().commit;
    net.propose('a', 'needs-a-voter');
    net.stabilize();
    expect(net.node('a').core.status().commit).toBe(before);
  });

  it('allows one change in flight at a time', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.add('d');
    net.add('e');
    expect(net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('d') }).ok).toBe(true);
    const second = net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('e') });
    expect(second).toMatchObject({ ok: false, code: 'change_in_progress' });
    net.stabilize();
    net.tickAll(1);
    expect(net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('e') }).ok).toBe(true);
  });

  it('refuses to promote a learner that has not caught up', () => {
    const net = Net.bootstrap(['a', 'b', 'c'], { promoteLagEntriesMax: 5 });
    net.elect('a');
    net.add('d');
    net.isolate('d');
    net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('d') });
    net.stabilize();
    for (let i = 0; i < 20; i++) net.propose('a', `v${i}`);
    net.stabilize();
    net.tickAll(1);
    expect(net.node('a').core.changeMembership({ type: 'promote', id: 'd' })).toMatchObject({ ok: false, code: 'not_caught_up' });
  });

  it('adding the same learner twice is idempotent; other URLs are refused', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.add('d');
    net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('d') });
    net.stabilize();
    net.tickAll(1);
    expect(net.node('a').core.changeMembership({ type: 'add-learner', member: learnerOf('d') }).ok).toBe(true);
    const other = { ...learnerOf('d'), peerURL: 'http://elsewhere:1' };
    expect(net.node('a').core.changeMembership({ type: 'add-learner', member: other })).toMatchObject({ ok: false, code: 'invalid' });
  });

  it('removes a voter; the removed node cannot disrupt the cluster', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    expect(net.node('a').core.changeMembership({ type: 'remove', id: 'c' }).ok).toBe(true);
    // c never hears about its removal.
    net.isolate('c');
    net.stabilize();
    net.tickAll(3);
    const term = net.node('a').core.status().term;
    net.tickAll(100);
    net.heal();
    net.tickAll(30);
    expect(net.leaders()).toEqual(['a']);
    expect(net.node('a').core.status().term).toBe(term);
  });

  it('removing the leader commits, then the leader hands off and steps down', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x');
    net.stabilize();
    expect(net.node('a').core.changeMembership({ type: 'remove', id: 'a' }).ok).toBe(true);
    net.stabilize();
    net.tickAll(5);
    const leaders = net.leaders();
    expect(leaders.length).toBe(1);
    expect(leaders[0]).not.toBe('a');
    expect(net.node('a').events.some((e) => e.type === 'removed')).toBe(true);
    net.tickAll(60);
    expect(net.node('a').core.status().role).toBe('follower');
    net.propose(leaders[0]!, 'y');
    net.stabilize();
    net.tickAll(1);
    expect(net.appliedText(leaders[0]!)).toEqual(['x', 'y']);
  });

  it('refuses removing the last voter and unknown members', () => {
    const net = Net.bootstrap(['a']);
    net.elect('a');
    expect(net.node('a').core.changeMembership({ type: 'remove', id: 'a' })).toMatchObject({ ok: false, code: 'invalid' });
    expect(net.node('a').core.changeMembership({ type: 'remove', id: 'zz' })).toMatchObject({ ok: false, code: 'unknown_member' });
  });

  it('only the leader changes membership', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    expect(net.node('b').core.changeMembership({ type: 'remove', id: 'c' })).toMatchObject({ ok: false, code: 'not_leader', leaderId: 'a' });
  });
});

describe('thesis §3.10 leadership transfer', () => {
  it('hands leadership to the chosen voter with TimeoutNow', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    expect(net.node('a').core.transferLeadership('c')).toEqual({ ok: true, to: 'c' });
    net.stabilize();
    expect(net.leaders()).toEqual(['c']);
  });

  it('picks the most caught-up voter when none is named, and refuses proposals meanwhile', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('a->c');
    net.propose('a', 'x');
    net.stabilize();
    const r = net.node('a').core.transferLeadership();
    expect(r).toEqual({ ok: true, to: 'b' });
    expect(net.propose('a', 'during')).toMatchObject({ ok: false });
    net.stabilize();
    expect(net.leaders()).toEqual(['b']);
  });

  it('brings a lagging target up to date before TimeoutNow', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.cut.add('a->c');
    for (let i = 0; i < 5; i++) net.propose('a', `v${i}`);
    net.stabilize();
    net.heal();
    net.node('a').core.transferLeadership('c');
    net.stabilize();
    net.tickAll(3);
    expect(net.leaders()).toEqual(['c']);
    expect(net.appliedText('c')).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('gives up after an election timeout if the target does not take over', () => {
    const net = Net.bootstrap(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    net.cut.delete('a->c');
    net.cut.delete('c->a');
    net.cut.add('a->c');
    net.node('a').core.transferLeadership('c');
    expect(net.propose('a', 'x').ok).toBe(false);
    net.tickAll(12);
    expect(net.node('a').core.status().role).toBe('leader');
    expect(net.propose('a', 'x').ok).toBe(true);
  });
});
