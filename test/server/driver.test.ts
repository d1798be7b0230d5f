// The driver with a real core, the in-memory log, real snapshot files and no network.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapState, defaultRaftTunables } from '../../node/src/raft/config.js';
import { RaftCore } from '../../node/src/raft/core.js';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Message } from '../../node/src/raft/types.js';
import { systemClock } from '../../node/src/server/clock.js';
import { RaftDriver } from '../../node/src/server/driver.js';
import { silentLogger } from '../../node/src/server/logger.js';
import { MemoryLogStorage } from '../../node/src/storage/memory-log-storage.js';
import { SnapshotChecksumError } from '../../node/src/storage/errors.js';
import { SnapshotStore } from '../../node/src/storage/snapshot-store.js';
import { encodeCommand, KvStore, type CommandResult } from '../../node/src/store/index.js';

const dirs: string[] = [];
const drivers: RaftDriver<CommandResult>[] = [];
/** Run before the drivers stop (e.g. releasing snapshot saves a test still holds: stop() awaits them). */
const beforeStop: (() => void)[] = [];
afterEach(async () => {
  for (const f of beforeStop.splice(0)) f();
  for (const d of drivers.splice(0)) await d.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function single(overrides = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'conflux-driver-'));
  dirs.push(dir);
  const membership = { members: [{ id: 'a', incarnation: 'ia', role: 'voter' as const, peerURL: '', clientURL: '' }] };
  const initial = bootstrapState(membership);
  const log = MemoryLogStorage.create();
  await log.write({ hardState: initial.hardState, entries: initial.entries });
  const store = new KvStore();
  const sent: Message[] = [];
  const core = new RaftCore({ ...defaultRaftTunables, ...overrides, id: 'a', incarnation: 'ia', clusterId: 'c', rng: seededRng(1) }, initial);
  const driver = new RaftDriver<CommandResult>({
    core,
    incarnation: 'ia',
    log,
    snapshots: await SnapshotStore.open(join(dir, 'snap')),
    stateMachine: store,
    peers: { send: (m) => sent.push(m), sendSnapshot: async () => undefined },
    clock: systemClock,
    logger: silentLogger,
    tickIntervalMs: 5,
    appliedMembership: { members: [] },
    appliedTerm: 0,
  });
  drivers.push(driver);
  driver.start();
  for (let i = 0; i < 200 && core.status().role !== 'leader'; i++) await new Promise((r) => setTimeout(r, 5));
  return { driver, store, log, core };
}

const put = (key: string, value: string) => encodeCommand({ type: 'put', key, value: new TextEncoder().encode(value), contentType: 'text/plain' });

describe('RaftDriver', () => {
  it('answers a proposal with the state machine result once it is durable and applied', async () => {
    const { driver, store, log } = await single();
    const r = await driver.propose(put('k', 'v'), 5000);
    expect(r).toMatchObject({ ok: true, type: 'put', created: true });
    expect(store.get('k')?.version).toBe(1);
    // Durable before the answer: the entry is in the log storage.
    expect(log.lastIndex()).toBeGreaterThanOrEqual(3);
  });

  it('group-commits: many proposals at once share few log writes', async () => {
    const { driver, log } = await single();
    await driver.readBarrier(5000); // the leader's blank entry is behind us
    const before = log.lastIndex();
    let writes = 0;
    const write = log.write.bind(log);
    log.write = (batch) => {
      writes++;
      return write(batch);
    };
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => driver.propose(put(`k${i}`, 'v'), 5000)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(log.lastIndex() - before).toBe(200);
    expect(writes).toBeLessThanOrEqual(3);
  });

  it('a proposal whose slot another entry took is answered at once, and never blocks the new one', async () => {
    const { driver } = await single();
    const stale = driver.awaitIndex(1000, 1, 5000);
    const fresh = driver.awaitIndex(1000, 2, 50);
    // Unknown, not "dropped": another node may still hold the old entry and a later leader commit
    // it. Only a different entry applied at that index proves it lost.
    await expect(stale).rejects.toMatchObject({ code: 'outcome_unknown' });
    await expect(fresh).rejects.toMatchObject({ code: 'outcome_unknown' });
  });

  it('serves linearizable read barriers, and snapshots on request', async () => {
    const { driver, store } = await single();
    await driver.propose(put('x', '1'), 5000);
    await driver.readBarrier(5000);
    expect(store.get('x')).not.toBeNull();
    const meta = await driver.snapshotNow();
    expect(meta.index).toBe(store.appliedIndex());
  });

  it('snapshot chunks that arrive together are handled one after the other (found by the fuzz test: a 500)', async () => {
    const { driver } = await single();
    const envelope = { type: 'snapshot' as const, clusterId: 'c', from: 'fuzzer', fromIncarnation: 'x', to: 'a', toIncarnation: '', term: 99, meta: { index: 10 ** 9, term: 99, membership: { members: [] } } };
    const data = new Uint8Array(4 * 1024 * 1024).fill(7);
    // The same first chunk again while the first one is being written (a leader's retry), announcing
    // a checksum the data does not have: each must be refused for that, and for nothing else.
    const chunk = () => driver.receiveSnapshotChunk(envelope, 0, data, true, data.length, 1);
    const first = chunk();
    const busy = () => (driver as unknown as { receiving: unknown }).receiving !== null;
    for (let i = 0; i < 1000 && !busy(); i++) await new Promise((r) => setImmediate(r));
    const outcomes = await Promise.allSettled([first, chunk(), chunk()]);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(SnapshotChecksumError);
    }
    expect(driver.pendingInstall()).toBeNull();
  });

  it('a storage failure is fatal: pending writes get outcome_unknown and new ones are refused', async () => {
    const { driver, log } = await single();
    const fatal: Error[] = [];
    (driver as unknown as { o: { onFatal: (e: Error) => void } }).o.onFatal = (e) => fatal.push(e);
    log.write = async () => {
      throw new Error('disk on fire');
    };
    await expect(driver.propose(put('k', 'v'), 5000)).rejects.toMatchObject({ code: 'outcome_unknown' });
    expect(driver.isFatal()?.message).toContain('disk on fire');
    expect(fatal.length).toBe(1);
    expect(() => driver.propose(put('k', 'v'), 5000)).toThrow(/disk on fire/);
  });
});

describe('RaftDriver snapshots in the background', () => {
  /** A single node that snapshots every 5 applied entries, whose snapshot saves the test holds. */
  async function heldSnapshots() {
    const node = await single({ snapshotEntries: 5, compactionKeepEntries: 0 });
    const snaps = (node.driver as unknown as { o: { snapshots: SnapshotStore } }).o.snapshots;
    const save = snaps.save.bind(snaps);
    const held: (() => void)[] = [];
    let fail: Error | null = null;
    let saved = 0;
    snaps.save = async (meta, chunks) => {
      await new Promise<void>((r) => held.push(r));
      if (fail) throw fail;
      const info = await save(meta, chunks);
      saved++;
      return info;
    };
    beforeStop.push(() => {
      for (const release of held.splice(0)) release();
    });
    const wait = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    };
    return { ...node, snaps, held, wait, saved: () => saved, failWith: (e: Error) => (fail = e) };
  }

  it('commits go on while the file is written; the log is compacted only once it is durable', async () => {
    const { driver, store, log, snaps, held, wait, saved } = await heldSnapshots();
    for (let i = 0; i < 12; i++) expect((await driver.propose(put(`k${i}`, 'v'), 5000)).ok).toBe(true);
    // One snapshot asked for and held; no second one meanwhile, nothing compacted, nothing published.
    expect(held.length).toBe(1);
    expect(log.firstIndex()).toBe(1);
    expect(snaps.latest()).toBeNull();
    held.shift()!();
    await wait(() => saved() === 1 && log.firstIndex() > 1);
    const meta = snaps.latest()!.meta;
    // The image is the state at the time it was asked for, not at the time it was written.
    expect(meta.index).toBeLessThan(store.appliedIndex());
    expect(log.firstIndex()).toBe(meta.index + 1);
    // The next one is asked for once the first is taken.
    await driver.propose(put('again', 'v'), 5000);
    await wait(() => held.length === 1);
    expect(held.length).toBe(1);
    held.shift()!();
    await wait(() => saved() === 2);
    expect(snaps.latest()!.meta.index).toBeGreaterThan(meta.index);
  });

  it('a snapshot asked for while one is being written waits for a newer one, and nothing spins meanwhile', async () => {
    const { driver, store, held, wait, saved } = await heldSnapshots();
    for (let i = 0; i < 6; i++) await driver.propose(put(`k${i}`, 'v'), 5000);
    await wait(() => held.length === 1);
    await driver.propose(put('after-first', 'v'), 5000);
    const askedAt = store.appliedIndex();
    let answer: { index: number } | null = null;
    void driver.snapshotNow().then((m) => (answer = m));
    // The event loop still turns (a spinning driver would starve timers and proposals alike).
    await new Promise((r) => setTimeout(r, 20));
    expect((await driver.propose(put('meanwhile', 'v'), 5000)).ok).toBe(true);
    held.shift()!();
    await wait(() => saved() === 1);
    // The first snapshot predates the request: it does not answer it; a second one is taken.
    expect(answer).toBeNull();
    await wait(() => held.length === 1);
    expect(held.length).toBe(1);
    held.shift()!();
    await wait(() => answer !== null);
    expect(answer!.index).toBeGreaterThanOrEqual(askedAt);
  });

  it('stop() waits for a snapshot being written', async () => {
    const { driver, held, wait, saved } = await heldSnapshots();
    for (let i = 0; i < 6; i++) await driver.propose(put(`k${i}`, 'v'), 5000);
    await wait(() => held.length === 1);
    let stopped = false;
    const stopping = driver.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    held.shift()!();
    await stopping;
    expect(saved()).toBe(1);
  });

  it('a snapshot that cannot be written stops the node', async () => {
    const { driver, held, wait, failWith } = await heldSnapshots();
    for (let i = 0; i < 6; i++) await driver.propose(put(`k${i}`, 'v'), 5000);
    await wait(() => held.length === 1);
    failWith(new Error('snapshot disk full'));
    held.shift()!();
    await wait(() => driver.isFatal() !== null);
    expect(driver.isFatal()?.message).toContain('snapshot disk full');
    expect(() => driver.propose(put('k', 'v'), 5000)).toThrow(/snapshot disk full/);
  });
});

describe('RaftDriver with followers', () => {
  /** A leader `a` of {a, b, c} whose followers answer by hand, over a log whose writes a test can hold. */
  async function leaderOfThree() {
    const dir = mkdtempSync(join(tmpdir(), 'conflux-driver-'));
    dirs.push(dir);
    const ids = ['a', 'b', 'c'];
    const membership = { members: ids.map((id) => ({ id, incarnation: `i${id}`, role: 'voter' as const, peerURL: '', clientURL: '' })) };
    const initial = bootstrapState(membership);
    const log = MemoryLogStorage.create();
    await log.write({ hardState: initial.hardState, entries: initial.entries });
    const sent: Message[] = [];
    const core = new RaftCore({ ...defaultRaftTunables, id: 'a', incarnation: 'ia', clusterId: 'c', rng: seededRng(1) }, initial);
    const driver = new RaftDriver<CommandResult>({
      core,
      incarnation: 'ia',
      log,
      snapshots: await SnapshotStore.open(join(dir, 'snap')),
      stateMachine: new KvStore(),
      peers: { send: (m) => sent.push(m), sendSnapshot: async () => undefined },
      clock: systemClock,
      logger: silentLogger,
      tickIntervalMs: 5,
      appliedMembership: { members: [] },
      appliedTerm: 0,
    });
    drivers.push(driver);
    const reply = (m: Message, body: Record<string, unknown>): void => {
      driver.step({ clusterId: 'c', from: m.to, fromIncarnation: `i${m.to}`, to: 'a', toIncarnation: 'ia', term: m.term, ...body } as Message);
    };
    /** Every follower answers everything sent so far, as a healthy follower would. */
    const answerAll = (): void => {
      for (const m of sent.splice(0)) {
        if (m.type === 'vote') reply(m, { type: 'vote_resp', preVote: m.preVote, granted: true });
        if (m.type === 'append') reply(m, { type: 'append_resp', success: true, matchIndex: m.prevIndex + m.entries.length, rejectHint: null });
        if (m.type === 'heartbeat') reply(m, { type: 'heartbeat_resp', readSeq: m.readSeq });
      }
    };
    driver.start();
    for (let i = 0; i < 400 && core.status().role !== 'leader'; i++) {
      answerAll();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(core.status().role).toBe('leader');
    await Promise.all([driver.readBarrier(5000), (async () => {
      for (let i = 0; i < 100 && core.status().commit < core.status().lastIndex; i++) {
        answerAll();
        await new Promise((r) => setTimeout(r, 5));
      }
      answerAll();
    })()]);
    return { driver, core, log, sent, answerAll };
  }

  it('answers a write committed by the followers while its next group commit is still being fsynced', async () => {
    const { driver, log, answerAll } = await leaderOfThree();
    const write = log.write.bind(log);
    // The first write's fsync completes; every later one is held until the test lets it go.
    let held: (() => void) | null = null;
    let writes = 0;
    log.write = async (batch) => {
      if (writes++ > 0) await new Promise<void>((r) => (held = r));
      return write(batch);
    };
    const wait = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
    };
    let firstDone = false;
    const first = driver.propose(put('k1', 'v1'), 5000).then((r) => ((firstDone = true), r));
    // Its entry is durable on the leader; a second proposal starts the next (held) fsync.
    await wait(() => writes >= 1);
    const second = driver.propose(put('k2', 'v2'), 5000);
    try {
      await wait(() => held !== null);
      expect(held).not.toBeNull();
      // The followers acknowledge both entries; only the first is durable on the leader.
      answerAll();
      await wait(() => firstDone);
      expect(firstDone).toBe(true);
      expect((await first).ok).toBe(true);
    } finally {
      (held as (() => void) | null)?.();
    }
    answerAll();
    expect((await second).ok).toBe(true);
  });
});
