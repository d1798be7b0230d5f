// Regression (found by the chaos test, seed 1668830402): a membership change must be acknowledged
// only when *its* entry is applied. A leader removed a follower while the third voter was down; the
// removal could not commit, the leader stepped down, and the removed follower was elected with the
// third voter's vote. Its blank entry took the removal's index; the old leader applied that index
// and answered 200 to `DELETE /admin/members/{id}` for a member that was still there.
//
// Three real cores with drivers, in-memory logs and an in-process network whose links the test
// cuts and restores, so the scenario plays out the same way every time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapState, defaultRaftTunables } from '../../node/src/raft/config.js';
import { RaftCore } from '../../node/src/raft/core.js';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Message, NodeId } from '../../node/src/raft/types.js';
import { systemClock } from '../../node/src/server/clock.js';
import { RaftDriver } from '../../node/src/server/driver.js';
import { ProposalDroppedError } from '../../node/src/server/errors.js';
import { silentLogger } from '../../node/src/server/logger.js';
import { ConfluxNode } from '../../node/src/server/node.js';
import { MemoryLogStorage } from '../../node/src/storage/memory-log-storage.js';
import { SnapshotStore } from '../../node/src/storage/snapshot-store.js';
import { KvStore, WatchHub, type CommandResult } from '../../node/src/store/index.js';

const dirs: string[] = [];
const drivers: RaftDriver<CommandResult>[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Member {
  id: NodeId;
  driver: RaftDriver<CommandResult>;
  node: ConfluxNode;
}

/** Three voters on an in-process network; `cut(a, b)` drops messages both ways. */
async function threeNodes() {
  const ids = ['a', 'b', 'c'];
  const membership = { members: ids.map((id) => ({ id, incarnation: `i-${id}`, role: 'voter' as const, peerURL: `mem://${id}`, clientURL: `mem://${id}` })) };
  const cutLinks = new Set<string>();
  const members = new Map<NodeId, Member>();
  const deliver = (m: Message) => {
    if (cutLinks.has(`${m.from}>${m.to}`)) return;
    setImmediate(() => {
      if (!cutLinks.has(`${m.from}>${m.to}`)) members.get(m.to)?.driver.step(m);
    });
  };
  for (const [n, id] of ids.entries()) {
    const dir = mkdtempSync(join(tmpdir(), 'conflux-member-ack-'));
    dirs.push(dir);
    const initial = bootstrapState(membership);
    const log = MemoryLogStorage.create();
    await log.write({ hardState: initial.hardState, entries: initial.entries });
    const store = new KvStore();
    const raftConfig = { ...defaultRaftTunables, electionTicksMin: 10, electionTicksMax: 20, id, incarnation: `i-${id}`, clusterId: 'c', clientURL: `mem://${id}`, rng: seededRng(n + 1) };
    const core = new RaftCore(raftConfig, initial);
    const driver = new RaftDriver<CommandResult>({
      core,
      incarnation: `i-${id}`,
      log,
      snapshots: await SnapshotStore.open(join(dir, 'snap')),
      stateMachine: store,
      peers: { send: deliver, sendSnapshot: async () => undefined },
      clock: systemClock,
      logger: silentLogger,
      tickIntervalMs: 5,
      appliedMembership: { members: [] },
      appliedTerm: 0,
    });
    drivers.push(driver);
    const node = new ConfluxNode({
      driver,
      store,
      watches: new WatchHub(store),
      log,
      clock: systemClock,
      raftConfig,
      self: { id, incarnation: `i-${id}`, peerURL: `mem://${id}`, clientURL: `mem://${id}` },
      newClusterId: () => 'c',
      saveClusterId: async () => undefined,
      adminTimeoutMs: 10_000,
    });
    members.set(id, { id, driver, node });
  }
  for (const m of members.values()) m.driver.start();
  const cut = (a: NodeId, b: NodeId) => {
    cutLinks.add(`${a}>${b}`);
    cutLinks.add(`${b}>${a}`);
  };
  const heal = (a: NodeId, b: NodeId) => {
    cutLinks.delete(`${a}>${b}`);
    cutLinks.delete(`${b}>${a}`);
  };
  return { members, cut, heal };
}

async function until(what: string, f: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('membership changes are acknowledged only when their own entry applies', () => {
  it('a removal overwritten by a new leader\'s entry at the same index is not reported done', async () => {
    const { members, cut, heal } = await threeNodes();
    const all = [...members.values()];
    await until('a leader', () => all.some((m) => m.node.isLeader()));
    const leader = all.find((m) => m.node.isLeader())!;
    const [down, removed] = all.filter((m) => m !== leader) as [Member, Member];
    // Let the removed-to-be follower catch up fully, so its log is at least as long as `down`'s.
    await leader.driver.readBarrier(5000);
    await until('followers caught up', () => removed.node.status().appliedIndex === leader.node.status().appliedIndex);

    // The third voter goes away, and the leader cannot reach the member it is about to remove.
    for (const m of all) if (m !== down) cut(down.id, m.id);
    cut(leader.id, removed.id);
    const removal = leader.node.removeMember(removed.id).then(
      () => 'acknowledged' as const,
      (err: unknown) => err,
    );
    const changeIndex = leader.node.status().lastLogIndex;
    expect(leader.node.membership().members.map((m) => m.id)).not.toContain(removed.id);

    // The old leader drops out; the third voter comes back, and one of the two, neither of which
    // ever had the removal, is elected (in the chaos run, the removed member itself).
    for (const m of all) if (m !== leader) cut(leader.id, m.id);
    heal(down.id, removed.id);
    await until('a new leader without the removal', () => removed.node.isLeader() || down.node.isLeader(), 10_000);
    const next = removed.node.isLeader() ? removed : down;
    await next.driver.readBarrier(5000);
    expect(next.node.status().commitIndex).toBeGreaterThanOrEqual(changeIndex);

    // The old leader hears from the new one: its uncommitted removal is overwritten at changeIndex.
    heal(leader.id, removed.id);
    heal(leader.id, down.id);
    await until('the old leader to apply past the change index', () => leader.node.status().appliedIndex >= changeIndex, 10_000);
    const outcome = await removal;
    expect(leader.node.membership().members.map((m) => m.id)).toContain(removed.id);
    // Not applied, and known not to be: 503 leader_changed (safe to retry), never a success.
    expect(outcome).toBeInstanceOf(ProposalDroppedError);
  }, 30_000);
});
