// Targeted scenarios on the simulated cluster, with every invariant checker running underneath.
// (The core's own unit tests live in node/src/raft; these check behaviour across real nodes.)
import { describe, expect, it } from 'vitest';
import { createRaftCore } from './core-factory.js';
import { Scenario } from './scenario.js';

describe('§9.6 (thesis) pre-vote', () => {
  it('a partitioned follower that rejoins does not depose the leader', () => {
    const s = new Scenario(createRaftCore, { voters: 3, seed: 11 });
    const leader = s.waitForLeader();
    s.write();
    const term = s.term(leader.id);
    const follower = s.sim.nodeIds().find((id) => id !== leader.id) as string;
    s.isolate(follower);
    s.runFor(2000); // many election timeouts: without pre-vote its term would climb
    expect(s.term(follower)).toBe(term);
    s.heal();
    s.runFor(500);
    expect(s.leader()?.id).toBe(leader.id);
    for (const id of s.sim.nodeIds()) expect(s.term(id)).toBe(term);
    s.write();
  });
});

describe('§6.2 (thesis) check-quorum', () => {
  it('a leader cut off from its majority steps down; the majority elects another and makes progress', () => {
    const s = new Scenario(createRaftCore, { voters: 3, seed: 12 });
    const old = s.waitForLeader();
    s.isolate(old.id);
    s.waitFor('the old leader to step down', () => old.status()?.role !== 'leader', 1000);
    s.waitFor('a new leader', () => {
      const l = s.leader();
      return l !== null && l.id !== old.id;
    });
    s.write();
    s.heal();
    s.waitFor('the old leader to follow', () => old.status()?.leaderId === s.leader()?.id, 1000);
  });
});

describe('§3.10 (thesis) leadership transfer', () => {
  it('hands leadership to the named voter', () => {
    const s = new Scenario(createRaftCore, { voters: 3, seed: 13 });
    const leader = s.waitForLeader();
    s.write();
    const target = s.sim.nodeIds().find((id) => id !== leader.id) as string;
    expect(leader.transferLeadership(target)).toMatchObject({ ok: true, to: target });
    s.waitFor(`${target} to lead`, () => s.leader()?.id === target, 1000);
    s.write();
  });
});

describe('§4.2.2 (thesis) removing the leader', () => {
  it('the removed leader hands off and the others carry on', () => {
    const s = new Scenario(createRaftCore, { voters: 3, seed: 14 });
    const old = s.waitForLeader();
    s.write();
    s.change({ type: 'remove', id: old.id });
    s.waitFor('a new leader', () => {
      const l = s.leader();
      return l !== null && l.id !== old.id;
    });
    const members = s.leader()?.status()?.membership.members.map((m) => m.id);
    expect(members).not.toContain(old.id);
    s.write();
    s.runFor(1000); // the removed node keeps running: it must not disrupt
    s.write();
  });
});

describe('identity (design §2): a node restarted with a wiped disk', () => {
  it('is refused until it is removed and re-added under its new incarnation', () => {
    const s = new Scenario(createRaftCore, { voters: 3, seed: 15 });
    const leader = s.waitForLeader();
    s.write();
    const victimId = s.sim.nodeIds().find((id) => id !== leader.id) as string;
    const victim = s.node(victimId);
    const oldIncarnation = victim.incarnation();
    victim.wipe(`${victimId}-wiped`);
    s.runFor(500);
    // The leader still addresses the old incarnation: the wiped node refuses and stores nothing.
    expect(victim.refusedMessages).toBeGreaterThan(0);
    expect(victim.disk.lastIndex()).toBe(0);
    expect(victim.disk.clusterId).toBe('');
    const index = s.write(); // the two others are still a quorum
    expect(victim.appliedIndex()).toBe(0);
    s.change({ type: 'remove', id: victimId });
    s.change({
      type: 'add-learner',
      member: { id: victimId, incarnation: victim.incarnation(), peerURL: 'sim://x', clientURL: 'sim://x' },
    });
    s.waitFor('the new incarnation to catch up', () => victim.appliedIndex() >= index);
    s.change({ type: 'promote', id: victimId });
    const members = s.leader()?.status()?.membership.members ?? [];
    expect(members.find((m) => m.id === victimId)).toMatchObject({ role: 'voter', incarnation: `${victimId}-wiped` });
    expect(members.some((m) => m.incarnation === oldIncarnation)).toBe(false);
    const last = s.write();
    s.waitFor('the re-added voter to apply the latest write', () => victim.appliedIndex() >= last);
  });
});

describe('§5.2/§5.4 under repeated leader crashes', () => {
  it('every acknowledged write survives three leader crashes in a row', () => {
    const s = new Scenario(createRaftCore, { voters: 5, seed: 16 });
    const acknowledged: number[] = [];
    for (let round = 0; round < 3; round++) {
      acknowledged.push(s.write());
      const leader = s.waitForLeader();
      leader.crash();
      s.waitFor('a new leader', () => s.leader() !== null && s.leader()?.id !== leader.id);
      leader.start();
    }
    const last = s.write();
    for (const id of s.sim.nodeIds()) s.waitFor(`${id} to apply ${last}`, () => s.node(id).appliedIndex() >= last);
    for (let i = 0; i < acknowledged.length; i++) {
      for (const id of s.sim.nodeIds()) expect(s.node(id).appliedAt(i + 1), `write ${i + 1} on ${id}`).toBe(acknowledged[i]);
    }
  });
});

describe('reproducibility', () => {
  it('a seed replays exactly: same trace, same statistics', async () => {
    const { runSeed } = await import('./simulation.js');
    const { fromSeed } = await import('./options.js');
    for (const seed of [3, 7]) {
      const traces: string[][] = [[], []];
      const a = runSeed(fromSeed(seed), createRaftCore, { verbose: true, sink: (line) => traces[0]?.push(line) });
      const b = runSeed(fromSeed(seed), createRaftCore, { verbose: true, sink: (line) => traces[1]?.push(line) });
      expect(b.stats).toEqual(a.stats);
      expect(traces[1]).toEqual(traces[0]);
      expect(traces[0]?.length).toBeGreaterThan(1000);
    }
  });
});

describe('§5.4.2 Figure 8: an old-term entry on a majority is not committed by counting', () => {
  it('the entry may be overwritten, so nobody applies it before an entry of the current term commits', () => {
    const s = new Scenario(createRaftCore, { voters: 5, seed: 17, maxEntriesPerAppend: 1, verbose: process.env['FIG8_VERBOSE'] === '1' });
    const ids = s.sim.nodeIds();
    const a = s.waitForLeader();
    s.write();
    const t = s.term(a.id);
    const b = s.node(ids.find((id) => id !== a.id) as string);
    const rest = ids.filter((id) => id !== a.id && id !== b.id);
    // (a) A leads term t and replicates X at index i to B only.
    s.sim.network.partition([a.id, b.id], rest);
    const i = (a.status()?.lastIndex ?? 0) + 1;
    const x = a.propose(new TextEncoder().encode('{"op":"put","id":999,"key":"k","value":"X"}'), 999, () => {});
    expect(x).toMatchObject({ ok: true, index: i, term: t });
    s.waitFor('X durable on A and B', () => a.disk.termAt(i) === t && b.disk.termAt(i) === t);
    a.crash();
    // (b) The others elect a leader L1 whose own entry at i (its blank) reaches nobody. Entries of
    // newer terms are cut from appends (the rest of the append, a probe, still gets its answer).
    s.sim.network.rewrite = (m) => (m.type === 'append' ? { ...m, entries: m.entries.filter((e) => e.term <= t) } : m);
    s.waitFor('a leader among the rest with its entry at i', () => {
      const l = s.leader();
      return l !== null && rest.includes(l.id) && (l.status()?.lastIndex ?? 0) >= i;
    });
    const l1 = s.leader() as NonNullable<ReturnType<Scenario['leader']>>;
    const t1 = s.term(l1.id);
    l1.crash();
    // (c) A comes back; a leader holding X (A or B) spreads X to a majority, but not its own blank.
    s.heal();
    a.start();
    s.waitFor('a leader that holds X', () => {
      const l = s.leader();
      return l !== null && l.disk.termAt(i) === t && s.term(l.id) > t1;
    });
    const holders = (): number => ids.filter((id) => s.node(id).disk.termAt(i) === t).length;
    s.waitFor('X on a majority', () => holders() >= 3);
    // X is on a majority, yet from an old term: no one may treat it as committed, however long
    // the leader keeps counting.
    s.runFor(300);
    expect(s.leader()?.status()?.commit).toBeLessThan(i);
    for (const id of ids) expect(s.node(id).appliedIndex(), `${id} applied`).toBeLessThan(i);
    // (d)/(e) Whatever happens next (L1 overwriting X, or X committed under a new term), the
    // checkers see every node apply the same entry at i.
    s.leader()?.crash();
    l1.start();
    s.sim.network.rewrite = null;
    for (const id of ids) if (!s.node(id).up) s.node(id).start();
    const last = s.write(5000);
    for (const id of ids) s.waitFor(`${id} to apply ${last}`, () => s.node(id).appliedIndex() >= last);
    const atI = new Set(ids.map((id) => s.sim.checks.stateMachine.appliedAt(i)));
    expect(atI.size).toBe(1);
  });
});
