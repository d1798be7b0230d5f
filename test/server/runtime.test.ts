// Real nodes (LevelDB, snapshot files, HTTP peer transport on 127.0.0.1) in one process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../node/src/server/logger.js';
import { openRuntime, type NodeRuntime, type RuntimeOptions } from '../../node/src/server/runtime.js';
import { freePorts } from '../support/ports.js';

const fast = { heartbeatIntervalMs: 20, electionTicksMin: 10, electionTicksMax: 20 };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

let dirs: string[] = [];
let runtimes: NodeRuntime[] = [];

afterEach(async () => {
  await Promise.all(runtimes.map((r) => r.close().catch(() => undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
  runtimes = [];
});

async function startStatic(n: number, tunables: Partial<RuntimeOptions['tunables']> = {}, extra: Partial<RuntimeOptions> = {}) {
  const ports = await freePorts(n);
  const members = ports.map((p, i) => ({ id: `n${i + 1}`, peerURL: `http://127.0.0.1:${p}` }));
  const opts = members.map((m, i) => {
    const dir = mkdtempSync(join(tmpdir(), 'conflux-rt-'));
    dirs.push(dir);
    return {
      id: m.id,
      dataDir: dir,
      listenPeer: { host: '127.0.0.1', port: ports[i]! },
      advertisePeer: m.peerURL,
      advertiseClient: `http://127.0.0.1:${ports[i]! + 10000}`,
      mode: { kind: 'initial-cluster' as const, members },
      tunables: { ...fast, ...tunables },
      logger: silentLogger,
      ...extra,
    } satisfies RuntimeOptions;
  });
  const rts = await Promise.all(opts.map((o) => openRuntime(o)));
  runtimes.push(...rts);
  return { rts, opts };
}

async function waitFor<T>(what: string, f: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const leaderOf = (rts: NodeRuntime[]) => rts.find((r) => r.node.isLeader());

describe('real nodes in one process', () => {
  it('three nodes from --initial-cluster elect a leader and replicate writes to every store', async () => {
    const { rts } = await startStatic(3);
    const leader = await waitFor('a leader', () => leaderOf(rts));
    for (let i = 0; i < 20; i++) {
      const r = await leader.node.propose({ type: 'put', key: `app/k${i}`, value: enc(`v${i}`), contentType: 'text/plain' });
      expect(r.ok).toBe(true);
    }
    await waitFor('followers to apply', () => rts.every((r) => r.node.store.revision() === 20));
    for (const r of rts) expect(dec(r.node.store.get('app/k7')?.value)).toBe('v7');
    // Incarnations get pinned by the leader.
    await waitFor('pinned identities', () => leader.node.membership().members.every((m) => m.incarnation !== '' && m.clientURL !== ''));
  });

  it('membership calls that are already in effect answer at once (idempotent add, promote of a voter)', async () => {
    const { rts } = await startStatic(3);
    const leader = await waitFor('a leader', () => leaderOf(rts));
    await waitFor('pinned identities', () => leader.node.membership().members.every((m) => m.incarnation !== '' && m.clientURL !== ''));
    const other = leader.node.membership().members.find((m) => m.id !== leader.node.id)!;
    const started = Date.now();
    await leader.node.addLearner({ id: other.id, peerURL: other.peerURL, clientURL: other.clientURL, incarnation: other.incarnation });
    await leader.node.promote(other.id);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a follower refuses proposals and names the leader; linearizable reads work on the leader', async () => {
    const { rts } = await startStatic(3);
    const leader = await waitFor('a leader', () => leaderOf(rts));
    const follower = rts.find((r) => r !== leader)!;
    await waitFor('follower knows leader', () => follower.node.status().leaderId === leader.node.id);
    await expect(follower.node.propose({ type: 'put', key: 'x', value: enc('1'), contentType: 'text/plain' })).rejects.toMatchObject({ code: 'not_leader', leaderId: leader.node.id });
    await leader.node.propose({ type: 'put', key: 'x', value: enc('1'), contentType: 'text/plain' });
    await leader.node.readBarrier();
    expect(dec(leader.node.store.get('x')?.value)).toBe('1');
  });

  it('the leader refuses writes that would grow the live data past the quota, before proposing them', async () => {
    // Each 500-byte value on a 2-byte key costs 500 + 2 + 10 + 64 = 576 bytes: three fit in 2,000.
    const { rts } = await startStatic(3, {}, { quotaBytes: 2000 });
    const leader = await waitFor('a leader', () => leaderOf(rts));
    const put = (key: string, n: number) => leader.node.propose({ type: 'put', key, value: new Uint8Array(n), contentType: 'text/plain' });
    for (const key of ['k1', 'k2', 'k3']) expect(await put(key, 500)).toMatchObject({ ok: true });
    const lastIndex = leader.node.status().lastLogIndex;
    await expect(put('k4', 500)).rejects.toMatchObject({ code: 'quota_exceeded', quotaBytes: 2000, liveBytes: 3 * 576 });
    // Growing a value refused too; nothing of either reached the log.
    await expect(put('k1', 800)).rejects.toMatchObject({ code: 'quota_exceeded' });
    expect(leader.node.status().lastLogIndex).toBe(lastIndex);
    // Shrinking, deleting, and writing again once there is room all pass.
    expect(await put('k1', 100)).toMatchObject({ ok: true });
    expect(await leader.node.propose({ type: 'delete', key: 'k2' })).toMatchObject({ ok: true });
    expect(await put('k4', 500)).toMatchObject({ ok: true });
    // A follower does not judge: it names the leader (the HTTP layer forwards the write there).
    const follower = rts.find((r) => r !== leader)!;
    await waitFor('follower knows leader', () => follower.node.status().leaderId === leader.node.id);
    await expect(follower.node.propose({ type: 'put', key: 'k9', value: new Uint8Array(5000), contentType: 'text/plain' })).rejects.toMatchObject({ code: 'not_leader' });
  });

  it('restarts from disk with every acknowledged write, ignoring the bootstrap flags', async () => {
    const { rts, opts } = await startStatic(3);
    const leader = await waitFor('a leader', () => leaderOf(rts));
    for (let i = 0; i < 10; i++) await leader.node.propose({ type: 'put', key: `k${i}`, value: enc(`v${i}`), contentType: 'text/plain' });
    await Promise.all(rts.map((r) => r.close()));
    runtimes = [];
    const again = await Promise.all(opts.map((o) => openRuntime(o)));
    runtimes.push(...again);
    const newLeader = await waitFor('a leader after restart', () => leaderOf(again));
    await newLeader.node.readBarrier();
    expect(newLeader.node.store.revision()).toBe(10);
    expect(dec(newLeader.node.store.get('k9')?.value)).toBe('v9');
  });

  it('snapshots, compacts, and catches a lagging node up by chunked snapshot install', async () => {
    const { rts, opts } = await startStatic(3, { snapshotEntries: 50, compactionKeepEntries: 5 });
    const leader = await waitFor('a leader', () => leaderOf(rts));
    const lagging = rts.find((r) => r !== leader)!;
    const lagIdx = rts.indexOf(lagging);
    await lagging.close();
    runtimes = runtimes.filter((r) => r !== lagging);
    for (let i = 0; i < 200; i++) await leader.node.propose({ type: 'put', key: `k${i % 20}`, value: enc(`v${i}`), contentType: 'text/plain' });
    expect(leader.node.status().snapshotIndex).toBeGreaterThan(100);
    const back = await openRuntime(opts[lagIdx]!);
    runtimes.push(back);
    await waitFor('lagging node to catch up', () => back.node.store.revision() === 200, 15_000);
    expect(back.node.status().snapshotIndex).toBeGreaterThan(0);
    expect(dec(back.node.store.get('k19')?.value)).toBe('v199');
  });
});
