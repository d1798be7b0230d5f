// The simulator's own parts, and proof that it catches broken cores: a harness that cannot fail
// proves nothing.
import { describe, expect, it } from 'vitest';
import { bootstrapState, type RaftConfig, type RaftInitialState } from '../../node/src/raft/config.js';
import type { Action, Entry, Membership, Message } from '../../node/src/raft/types.js';
import type { CoreStatus, ProposeResult, SimCore } from './core-api.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { encodeCommand, Kv } from './kv.js';
import { SimNetwork, type Packet } from './network.js';
import { describeOptions, fromSeed, type SimOptions } from './options.js';
import { simRng, stream } from './random.js';
import { failureReport, reproduceCommand, seedPlan } from './report.js';
import { runSeed } from './simulation.js';

const entry = (index: number, term: number): Entry => ({ index, term, kind: 'normal', data: new Uint8Array([index]) });

describe('virtual time', () => {
  it('runs events in time order, and same-time events in scheduling order', () => {
    const q = new EventQueue();
    const seen: string[] = [];
    q.at(5, () => seen.push('b'));
    q.at(1, () => seen.push('a'));
    q.at(5, () => seen.push('c'));
    q.at(3, () => q.after(2, () => seen.push('d')));
    while (q.runNext(100));
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    expect(q.now()).toBe(5);
  });

  it('stops at the horizon', () => {
    const q = new EventQueue();
    let ran = 0;
    q.at(10, () => ran++);
    expect(q.runNext(9)).toBe(false);
    expect(ran).toBe(0);
  });
});

describe('seeded network', () => {
  const setup = (options: Partial<SimOptions['network']> = {}) => {
    const q = new EventQueue();
    const net = new SimNetwork(q, simRng(7), {
      lossRate: 0,
      duplicateRate: 0,
      delayMinMs: 1,
      delayMaxMs: 2,
      tailRate: 0,
      tailMaxMs: 10,
      ...options,
    });
    const got: Record<string, Packet[]> = { a: [], b: [] };
    net.attach('a', { receive: (p) => (got['a']?.push(p), true) });
    net.attach('b', { receive: (p) => (got['b']?.push(p), true) });
    const msg = (from: string, to: string): Message => ({
      type: 'heartbeat',
      clusterId: 'c',
      from,
      fromIncarnation: '',
      to,
      toIncarnation: '',
      term: 1,
      commit: 0,
      readSeq: 0,
    });
    return { q, net, got, msg };
  };

  it('delivers copies, never the sender object', () => {
    const { q, net, got, msg } = setup();
    const m = msg('a', 'b');
    net.send('a', 'b', { msg: m });
    while (q.runNext(100));
    expect(got['b']).toHaveLength(1);
    expect(got['b']?.[0]?.msg).toEqual(m);
    expect(got['b']?.[0]?.msg).not.toBe(m);
  });

  it('blocks one direction of an asymmetric partition, and heals', () => {
    const { q, net, got, msg } = setup();
    const outcomes: string[] = [];
    net.block('a', 'b');
    net.send('a', 'b', { msg: msg('a', 'b') }, (o) => outcomes.push(o));
    net.send('b', 'a', { msg: msg('b', 'a') }, (o) => outcomes.push(o));
    while (q.runNext(100));
    expect(outcomes.sort()).toEqual(['delivered', 'unreachable']);
    expect(got['b']).toHaveLength(0);
    net.heal();
    net.send('a', 'b', { msg: msg('a', 'b') });
    while (q.runNext(200));
    expect(got['b']).toHaveLength(1);
  });

  it('loses and duplicates at the configured rates', () => {
    const { q, net, got, msg } = setup({ lossRate: 0.3, duplicateRate: 0.1 });
    for (let i = 0; i < 2000; i++) net.send('a', 'b', { msg: msg('a', 'b') });
    while (q.runNext(1e9));
    const received = got['b']?.length ?? 0;
    // 2000 * 1.1 copies * 0.7 kept = 1540, give or take sampling noise.
    expect(received).toBeGreaterThan(1400);
    expect(received).toBeLessThan(1680);
    expect(net.stats.duplicated).toBeGreaterThan(120);
  });
});

describe('simulated disk', () => {
  it('replaces a conflicting suffix and refuses holes', () => {
    const d = new SimDisk('n1', 'i', 'c');
    d.writePersist({ term: 1, vote: 'n1', commit: 0 }, [entry(1, 1), entry(2, 1), entry(3, 1)]);
    d.writePersist(null, [entry(2, 2)]);
    expect(d.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/2']);
    expect(() => d.writePersist(null, [entry(5, 2)])).toThrow(/hole/);
    expect(d.hardState.vote).toBe('n1');
  });

  it('compacts only behind a durable snapshot, and restarts from what it holds', () => {
    const d = new SimDisk('n1', 'i', 'c');
    d.writePersist({ term: 2, vote: null, commit: 3 }, [entry(1, 1), entry(2, 1), entry(3, 2)]);
    expect(() => d.compact(2)).toThrow(/beyond the durable snapshot/);
    const image = new Kv().image();
    d.saveSnapshot({ meta: { index: 2, term: 1, membership: { members: [] } }, image: { ...image, index: 2 } });
    d.compact(1);
    expect(d.termAt(1)).toBeUndefined();
    expect(d.termAt(2)).toBe(1);
    const initial = d.initialState();
    expect(initial.applied).toBe(2);
    expect(initial.entries.map((e) => e.index)).toEqual([3]);
    expect(initial.hardState).toEqual({ term: 2, vote: null, commit: 3 });
  });
});

describe('sim key/value state machine', () => {
  const cmd = (index: number, c: Parameters<typeof encodeCommand>[0]): Entry => ({ index, term: 1, kind: 'normal', data: encodeCommand(c) });

  it('applies put and compare-and-set, and snapshots', () => {
    const kv = new Kv();
    expect(kv.apply(cmd(1, { op: 'put', id: 1, key: 'k', value: 'a' }))).toEqual({ ok: true, opId: 1 });
    expect(kv.apply(cmd(2, { op: 'cas', id: 2, key: 'k', expected: 'x', value: 'b' }))).toEqual({ ok: false, opId: 2 });
    expect(kv.apply(cmd(3, { op: 'cas', id: 3, key: 'k', expected: 'a', value: 'c' }))).toEqual({ ok: true, opId: 3 });
    const copy = Kv.restore(kv.image());
    expect(copy.get('k')).toBe('c');
    expect(copy.appliedAt(2)).toBe(2);
    expect(copy.chain()).toBe(kv.chain());
  });

  it('refuses out-of-order and twice-applied operations', () => {
    const kv = new Kv();
    expect(() => kv.apply(cmd(2, { op: 'put', id: 1, key: 'k', value: 'a' }))).toThrow(/out of order/);
    kv.apply(cmd(1, { op: 'put', id: 1, key: 'k', value: 'a' }));
    expect(() => kv.apply(cmd(2, { op: 'put', id: 1, key: 'k', value: 'a' }))).toThrow(/applied twice/);
  });
});

describe('options and seeds', () => {
  it('derive everything from the seed', () => {
    expect(fromSeed(42)).toEqual(fromSeed(42));
    expect(fromSeed(42)).not.toEqual(fromSeed(43));
    expect(stream(1, 'x').next()).toBe(stream(1, 'x').next());
    expect(stream(1, 'x').next()).not.toBe(stream(1, 'y').next());
    expect(describeOptions(fromSeed(42))).toMatch(/^options seed=42 /);
  });

  it('cover the ranges the brief asks for', () => {
    const all = Array.from({ length: 500 }, (_, i) => fromSeed(i));
    expect(Math.min(...all.map((o) => o.poolSize))).toBe(1);
    expect(Math.max(...all.map((o) => o.poolSize))).toBe(7);
    expect(Math.max(...all.map((o) => o.network.lossRate))).toBe(0.3);
    expect(all.some((o) => o.faults.wipeOdds > 0 && o.incarnationsKnown)).toBe(true);
    expect(all.some((o) => o.raft.leaseReads)).toBe(true);
  });

  it('read the plan from the environment', () => {
    expect(seedPlan({}, { base: 1, count: 3 })).toEqual({ seeds: [1, 2, 3], verbose: false });
    expect(seedPlan({ SIM_SEEDS: '2', SIM_SEED_BASE: '10' }, { base: 1, count: 3 }).seeds).toEqual([10, 11]);
    expect(seedPlan({ SIM_SEED: '123' }, { base: 1, count: 3 })).toEqual({ seeds: [123], verbose: true });
    expect(() => seedPlan({ SIM_SEEDS: 'x' }, { base: 1, count: 3 })).toThrow();
    expect(reproduceCommand(123456)).toBe('reproduce: SIM_SEED=123456 npx vitest run test/sim');
  });
});

// ---- broken cores: the simulation must notice ------------------------------------------------

/**
 * A "core" that considers itself leader of `termOf(id)` and commits its own proposals at once,
 * without asking anyone. `alive: false` makes it never lead (a liveness failure).
 */
class FakeCore implements SimCore {
  private actions: Action[] = [];
  private last: number;
  private readonly term: number;
  private readonly membership: Membership;

  constructor(
    private readonly config: RaftConfig,
    initial: RaftInitialState,
    private readonly behaviour: { termOf: (id: string) => number; leads: boolean; throwOnStep?: boolean },
  ) {
    this.term = behaviour.termOf(config.id);
    this.last = initial.entries[initial.entries.length - 1]?.index ?? initial.snapshot?.index ?? 0;
    const configEntry = initial.entries.find((e) => e.kind === 'config');
    this.membership = configEntry ? (JSON.parse(new TextDecoder().decode(configEntry.data)) as Membership) : { members: [] };
    const unapplied = initial.entries.filter((e) => e.index > initial.applied && e.index <= initial.hardState.commit);
    if (unapplied.length > 0) this.actions.push({ kind: 'apply', entries: unapplied });
  }

  tick(): void {}
  step(_msg: Message): void {
    if (this.behaviour.throwOnStep) throw new TypeError('cannot read properties of undefined');
  }
  propose(data: Uint8Array): ProposeResult {
    if (!this.behaviour.leads) return { ok: false, code: 'not_leader', leaderId: null };
    const e: Entry = { index: ++this.last, term: this.term, kind: 'normal', data };
    this.actions.push({ kind: 'persist', hardState: { term: this.term, vote: null, commit: e.index }, entries: [e] });
    this.actions.push({ kind: 'apply', entries: [e] });
    return { ok: true, index: e.index, term: e.term };
  }
  changeMembership(): ProposeResult {
    return { ok: false, code: 'invalid', leaderId: null };
  }
  readIndex(id: number): { ok: true } | { ok: false; code: string; leaderId: null } {
    if (!this.behaviour.leads) return { ok: false, code: 'not_leader', leaderId: null };
    this.actions.push({ kind: 'read-ready', id, index: this.last });
    return { ok: true };
  }
  transferLeadership(): { ok: false; code: string } {
    return { ok: false, code: 'invalid' };
  }
  takeActions(): Action[] {
    const out = this.actions;
    this.actions = [];
    return out;
  }
  persisted(): void {}
  reportSnapshot(): void {}
  reportUnreachable(): void {}
  snapshotTaken(): void {}
  status(): CoreStatus {
    return {
      id: this.config.id,
      role: this.behaviour.leads ? 'leader' : 'follower',
      term: this.term,
      leaderId: this.behaviour.leads ? this.config.id : null,
      commit: this.last,
      applied: 0,
      lastIndex: this.last,
      snapshotIndex: 0,
      membership: this.membership,
    };
  }
}

function calm(seed: number, voters: number): SimOptions {
  const o = fromSeed(seed);
  const none = { crashOdds: 0, partitionOdds: 0, wipeOdds: 0, injectOdds: 0, membershipOdds: 0, transferOdds: 0 };
  return {
    ...o,
    poolSize: voters,
    initialVoters: voters,
    faults: { ...o.faults, ...none },
    workload: { ...o.workload, clients: 3, readRate: 0.3, thinkMaxMs: 5 },
    safetyPhaseMs: 300,
    livenessBoundMs: 500,
  };
}

describe('the simulation catches broken cores', () => {
  it('two leaders in one term: election safety', () => {
    const result = runSeed(calm(1, 3), (c, i) => new FakeCore(c, i, { termOf: () => 2, leads: true }));
    expect(result.ok).toBe(false);
    expect(result.checker).toBe('election-safety');
    expect(failureReport(result)).toContain(reproduceCommand(1));
  });

  it('leaders that commit alone: the logs diverge', () => {
    const result = runSeed(calm(2, 3), (c, i) => new FakeCore(c, i, { termOf: (id) => Number(id.slice(1)) + 1, leads: true }));
    expect(result.ok).toBe(false);
    expect(['state-machine-safety', 'leader-completeness']).toContain(result.checker);
  });

  it('nobody ever leads: liveness', () => {
    const result = runSeed(calm(3, 3), (c, i) => new FakeCore(c, i, { termOf: () => 1, leads: false }));
    expect(result.ok).toBe(false);
    expect(result.checker).toBe('liveness');
    expect(result.message).toMatch(/no proposal committed/);
  });

  it('a core that throws on a message', () => {
    const result = runSeed(calm(4, 1), (c, i) => new FakeCore(c, i, { termOf: () => 2, leads: true, throwOnStep: true }));
    // A lone node receives no messages; inject some.
    expect(result.ok).toBe(true);
    const injected = runSeed(
      { ...calm(4, 1), faults: { ...calm(4, 1).faults, injectOdds: 1 } },
      (c, i) => new FakeCore(c, i, { termOf: () => 2, leads: true, throwOnStep: true }),
    );
    expect(injected.ok).toBe(false);
    expect(injected.checker).toBe('core-threw');
  });

  it('a single honest leader passes every check (the fake is sound for one node)', () => {
    const result = runSeed(calm(5, 1), (c, i) => new FakeCore(c, i, { termOf: () => 2, leads: true }));
    expect(result.message).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.stats.clientOk).toBeGreaterThan(10);
  });
});

// Keeps the bootstrap helper honest: the sim's initial log is the one the node package defines.
it('bootstraps from the node package’s bootstrapState', () => {
  const s = bootstrapState({ members: [] });
  expect(s.entries[0]?.kind).toBe('config');
});
