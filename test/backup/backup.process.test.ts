// Backup, restore and quorum-loss recovery with real conflux-node processes and the real
// `conflux` CLI, following the runbooks in docs/runbooks.md step by step:
// - "Backup" and "Restore": save from a follower while writes go on, check the file, wipe the whole
//   cluster, restore one node, add two empty ones, and find the data, histories, rollbacks,
//   revisions and watches as of the backup, under a new cluster id that an old node cannot join;
//   damaged files are refused by --restore with nothing created.
// - "Quorum loss": SIGKILL two of three nodes for good, --force-new-cluster on the survivor, every
//   acknowledged write is there, new members join and catch up, the old nodes (restarted with their
//   old data) are refused and change nothing, and the flag left on at a restart is a no-op.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { get, ProcessCluster, putRetrying, waitFor, type ProcNode } from '../support/process-cluster.js';

const cliBin = resolve(import.meta.dirname, '../../dist/node/src/cli/conflux.js');

let cluster: ProcessCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function conflux(endpoint: string, args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    execFile(process.execPath, [cliBin, '--endpoints', endpoint, '--timeout-ms', '20000', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 99;
      done({ code, stdout, stderr });
    });
  });
}

/** A membership call as the runbook makes it: retried while the cluster is busy (503, 409 not caught up / change in progress). */
async function confluxRetrying(endpoint: string, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await conflux(endpoint, args);
    if (r.code === 0 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 300));
  }
}

async function status(n: ProcNode): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(`${n.client}/admin/status`, { signal: AbortSignal.timeout(5000) });
    return r.ok ? ((await r.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

interface HistoryItem {
  modRevision: number;
  version: number;
  value: string;
  deleted: boolean;
}

async function history(base: string, key: string): Promise<HistoryItem[]> {
  const r = await fetch(`${base}/v1/history/${key}`, { signal: AbortSignal.timeout(10_000) });
  if (r.status === 404) return [];
  expect(r.status).toBe(200);
  return ((await r.json()) as { items: HistoryItem[] }).items.map(({ modRevision, version, value, deleted }) => ({ modRevision, version, value, deleted }));
}

async function readValue(base: string, key: string, query = ''): Promise<{ status: number; value: string }> {
  const r = await get(base, key, query);
  return { status: r.status, value: await r.text() };
}

/** The first `count` SSE events of a watch from `fromRevision`. */
async function watchEvents(base: string, fromRevision: number, count: number): Promise<{ id: number; event: string; key: string }[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  const res = await fetch(`${base}/v1/watch?prefix=&fromRevision=${fromRevision}`, { signal: controller.signal });
  expect(res.status).toBe(200);
  const events: { id: number; event: string; key: string }[] = [];
  const reader = res.body!.getReader();
  let buffer = '';
  try {
    while (events.length < count) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += new TextDecoder().decode(value);
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0 && events.length < count) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
        const event = field('event');
        if (event === 'put' || event === 'delete') events.push({ id: Number(field('id')), event, key: (JSON.parse(field('data') ?? '{}') as { key: string }).key });
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

async function exitOf(n: ProcNode): Promise<number | null> {
  const p = n.proc!;
  if (p.exitCode !== null) return p.exitCode;
  const [code] = (await once(p, 'exit')) as [number | null];
  return code;
}

/** Adds `n` (started empty, waiting to be added) as a learner, then promotes it once caught up. */
async function addMember(endpoint: string, n: ProcNode): Promise<void> {
  const add = await confluxRetrying(endpoint, ['members', 'add', n.id, '--peer-url', n.peerURL, '--client-url', n.client]);
  expect(add.code, add.stderr).toBe(0);
  const promote = await confluxRetrying(endpoint, ['members', 'promote', n.id]);
  expect(promote.code, promote.stderr).toBe(0);
}

describe('backup and restore (docs/runbooks.md: Backup, Restore)', () => {
  it('saves from a follower during writes, wipes the cluster, restores it as a new 3-node cluster with data, histories, rollback and watches', async () => {
    cluster = new ProcessCluster();
    const c = cluster;
    const [a, b, cc] = await c.startStatic(['a', 'b', 'c']);
    const leaderId = await c.leader(30_000);
    const leader = c.node(leaderId);
    const follower = [a!, b!, cc!].find((n) => n.id !== leaderId)!;
    const oldClusterId = (await status(leader))!.clusterId as string;

    // Data with history: versions, a delete, a re-create.
    for (let i = 0; i < 20; i++) expect((await putRetrying(leader.client, `app/k${i}`, `v${i}-1`)).status).toBe(201);
    for (let i = 0; i < 20; i += 2) expect((await putRetrying(leader.client, `app/k${i}`, `v${i}-2`)).status).toBe(200);
    expect((await fetch(`${leader.client}/v1/kv/app/k1`, { method: 'DELETE' })).status).toBe(200);
    expect((await putRetrying(leader.client, 'app/k3', 'v3-2')).status).toBe(200);
    const firstRevision = 1;

    // Writes go on through the leader while the follower streams the backup.
    let writing = true;
    let acked = 0;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        const r = await putRetrying(leader.client, `live/k${i % 10}`, `w${i}`);
        if (r.status === 200 || r.status === 201) acked = ((await r.json()) as { revision: number }).revision;
      }
    })();
    await waitFor('writes during the backup', () => acked > 60, 30_000);
    const ackedBeforeSave = acked;
    const file = join(c.root, 'cluster.bak');
    const save = await conflux(follower.client, ['snapshot', 'save', file, '-o', 'json']);
    writing = false;
    await writes;
    expect(save.code, save.stderr).toBe(0);
    const saved = JSON.parse(save.stdout) as { revision: number; keys: number; sha256: string; checksum: string; clusterId: string; consistency: string; nodeId: string };
    // Served by the follower itself (after a read index from the leader), not forwarded.
    expect(saved).toMatchObject({ checksum: 'ok', clusterId: oldClusterId, consistency: 'linearizable', nodeId: follower.id });
    // Linearizable: every write acknowledged before the save began is in it.
    expect(saved.revision).toBeGreaterThanOrEqual(ackedBeforeSave);
    expect(existsSync(`${file}.part`)).toBe(false);

    const st = await conflux(follower.client, ['snapshot', 'status', file, '-o', 'json']);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ revision: saved.revision, keys: saved.keys, sha256: saved.sha256, checksum: 'ok' });

    // What the restored cluster must show: histories as of the backup's revision.
    const keys = [...Array.from({ length: 20 }, (_, i) => `app/k${i}`), ...Array.from({ length: 10 }, (_, i) => `live/k${i}`)];
    const expected = new Map<string, HistoryItem[]>();
    for (const key of keys) expected.set(key, (await history(leader.client, key)).filter((h) => h.modRevision <= saved.revision));

    // An old node's data directory, kept to show it cannot join the restored cluster.
    await c.kill(a!.id, 'SIGKILL');
    const oldDir = join(c.root, 'a-old-data');
    cpSync(a!.dataDir, oldDir, { recursive: true });
    for (const n of [a!, b!, cc!]) {
      await c.kill(n.id, 'SIGKILL');
      rmSync(n.dataDir, { recursive: true, force: true });
    }

    // Damaged files: refused by --restore, exit != 0, nothing created.
    const [bad] = await c.define(['bad']);
    const good = readFileSync(file);
    const damaged: [string, Buffer][] = [
      ['bitflip', Buffer.from(good.map((x, i) => (i === good.length >> 1 ? x ^ 0x20 : x)))],
      ['truncated', good.subarray(0, good.length - 100)],
      ['magic', Buffer.concat([Buffer.from('ZZ'), good.subarray(2)])],
    ];
    for (const [name, bytes] of damaged) {
      const badFile = join(c.root, `${name}.bak`);
      writeFileSync(badFile, bytes);
      c.start(bad!.id, ['--restore', badFile]);
      expect(await exitOf(bad!), name).not.toBe(0);
      expect(existsSync(bad!.dataDir), name).toBe(false);
      expect(await c.logs(bad!.id)).toMatch(name === 'truncated' ? /backup_truncated|incomplete backup/ : /not a Conflux backup|checksum mismatch|SHA-256 mismatch|corrupt/);
    }

    // Restore: one node from the file, two empty ones added (docs/runbooks.md, "Restore").
    const [r1, r2, r3] = await c.define(['r1', 'r2', 'r3']);
    c.start(r1!.id, ['--restore', file]);
    await waitFor('r1 leads the restored cluster', async () => (await status(r1!))?.role === 'leader', 30_000);
    const newClusterId = (await status(r1!))!.clusterId as string;
    expect(newClusterId).not.toBe(oldClusterId);
    expect(newClusterId).not.toBe('');
    c.start(r2!.id);
    c.start(r3!.id);
    await addMember(r1!.client, r2!);
    await addMember(r1!.client, r3!);
    const members = await conflux(r1!.client, ['members', '-o', 'json']);
    expect((JSON.parse(members.stdout) as { members: { id: string; role: string }[] }).members.map((m) => `${m.id}:${m.role}`).sort()).toEqual(['r1:voter', 'r2:voter', 'r3:voter']);

    // Data and histories as of the backup, on every restored node.
    for (const n of [r1!, r2!, r3!]) {
      await waitFor(`${n.id} caught up`, async () => ((await status(n))?.appliedIndex as number) >= ((await status(r1!))?.commitIndex as number), 30_000);
      for (const key of keys) expect(await history(n.client, key), `${n.id} ${key}`).toEqual(expected.get(key));
    }
    const k0 = expected.get('app/k0')!;
    expect(k0.map((h) => h.value)).toEqual(['v0-2', 'v0-1']);
    expect((await readValue(r2!.client, 'app/k1')).status).toBe(404);
    expect(await readValue(r2!.client, 'app/k0', `?revision=${k0[1]!.modRevision}`)).toEqual({ status: 200, value: 'v0-1' });
    // Rollback to a revision from before the backup works, and revisions continue after it.
    const rollback = await conflux(r3!.client, ['rollback', 'app/k0', String(k0[1]!.modRevision), '-o', 'json']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect((JSON.parse(rollback.stdout) as { modRevision: number }).modRevision).toBe(saved.revision + 1);
    expect(await readValue(r1!.client, 'app/k0')).toEqual({ status: 200, value: 'v0-1' });
    // A watch from an old revision replays the history the backup carried, in order.
    const events = await watchEvents(r2!.client, firstRevision, 5);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(events[0]).toMatchObject({ event: 'put', key: 'app/k0' });

    // The old node, with its old data, cannot join: the leader's messages carry the new cluster id.
    const old = c.node('a');
    rmSync(old.dataDir, { recursive: true, force: true });
    cpSync(oldDir, old.dataDir, { recursive: true });
    c.start(old.id);
    // A loaded machine may take a while to start a node: wait until it serves before judging it.
    await waitFor('the old node serves', () => status(old), 60_000);
    const add = await confluxRetrying(r1!.client, ['members', 'add', 'a', '--peer-url', old.peerURL, '--client-url', old.client]);
    expect(add.code, add.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await status(old))?.clusterId).toBe(oldClusterId);
    const promote = await conflux(r1!.client, ['members', 'promote', 'a']);
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/not_caught_up/);
    expect(await c.logs('a')).toMatch(/cluster_mismatch/);
    expect((await confluxRetrying(r1!.client, ['members', 'remove', 'a'])).code).toBe(0);
    expect((await status(r1!))?.clusterId).toBe(newClusterId);
  }, 300_000);
});

describe('quorum loss (docs/runbooks.md: Quorum loss)', () => {
  it('--force-new-cluster on the survivor of SIGKILLed two: every acknowledged write is there, new members join, old members are refused', async () => {
    cluster = new ProcessCluster();
    const c = cluster;
    await c.startStatic(['a', 'b', 'c']);
    const leaderId = await c.leader(30_000);
    // The survivor is a follower: the harder case (the leader always has every acknowledged write).
    const survivor = c.node(['a', 'b', 'c'].find((id) => id !== leaderId)!);
    const lost = ['a', 'b', 'c'].filter((id) => id !== survivor.id).map((id) => c.node(id));
    const oldClusterId = (await status(survivor))!.clusterId as string;

    const acked = new Map<string, string>();
    for (let i = 0; i < 150; i++) {
      const key = `cfg/k${i % 40}`;
      const r = await putRetrying(c.node(leaderId).client, key, `v${i}`);
      expect([200, 201]).toContain(r.status);
      acked.set(key, `v${i}`);
    }
    // "Data up to the last commit on the survivor": it has applied everything the leader committed.
    const commit = (await status(c.node(leaderId)))!.commitIndex as number;
    await waitFor('the survivor has every committed entry', async () => ((await status(survivor))?.appliedIndex as number) >= commit, 30_000);
    await Promise.all(lost.map((n) => c.kill(n.id, 'SIGKILL')));

    // Without quorum nothing is served linearizably; the survivor's data can still be backed up.
    const emergency = await conflux(survivor.client, ['snapshot', 'save', join(c.root, 'survivor.bak'), '--serializable', '-o', 'json']);
    expect(emergency.code, emergency.stderr).toBe(0);
    expect(JSON.parse(emergency.stdout)).toMatchObject({ consistency: 'serializable', keys: 40 });

    await c.kill(survivor.id, 'SIGTERM');
    c.start(survivor.id, ['--force-new-cluster']);
    await waitFor('the survivor leads alone', async () => (await status(survivor))?.role === 'leader', 30_000);
    const newClusterId = (await status(survivor))!.clusterId as string;
    expect(newClusterId).not.toBe(oldClusterId);
    expect(await c.logs(survivor.id)).toMatch(/FORCED A NEW CLUSTER/);
    for (const [key, value] of acked) expect(await readValue(survivor.client, key), key).toEqual({ status: 200, value });
    expect((await putRetrying(survivor.client, 'after/recovery', 'yes')).status).toBe(201);

    // Members come back as new members with empty data directories.
    const [d, e] = await c.define(['d', 'e']);
    c.start(d!.id);
    c.start(e!.id);
    await addMember(survivor.client, d!);
    await addMember(survivor.client, e!);
    for (const n of [d!, e!]) {
      await waitFor(`${n.id} caught up`, async () => ((await status(n))?.appliedIndex as number) >= ((await status(survivor))?.commitIndex as number), 30_000);
      for (const [key, value] of acked) expect(await readValue(n.client, key, '?consistency=serializable'), `${n.id} ${key}`).toEqual({ status: 200, value });
      expect((await status(n))?.clusterId).toBe(newClusterId);
    }

    // The lost nodes come back with their old data by mistake: refused, nothing changes.
    const before = (await status(survivor))!;
    for (const n of lost) c.start(n.id);
    for (const n of lost) await waitFor(`old ${n.id} serves`, () => status(n), 60_000);
    await new Promise((r) => setTimeout(r, 4000));
    const after = (await status(survivor))!;
    expect(after).toMatchObject({ role: 'leader', term: before.term, clusterId: newClusterId });
    for (const n of lost) expect((await status(n))?.clusterId).toBe(oldClusterId);
    expect(await c.logs(survivor.id)).toMatch(/cluster_mismatch/);
    expect((await putRetrying(survivor.client, 'after/old-nodes', 'still-fine')).status).toBe(201);
    const members = JSON.parse((await conflux(survivor.client, ['members', '-o', 'json'])).stdout) as { members: { id: string }[] };
    expect(members.members.map((m) => m.id).sort()).toEqual([survivor.id, 'd', 'e'].sort());
    for (const n of lost) await c.kill(n.id, 'SIGKILL');

    // A restart with the flag still set changes nothing: same cluster, same members.
    await c.kill(survivor.id, 'SIGTERM');
    c.start(survivor.id, ['--force-new-cluster']);
    await waitFor('the survivor is back in its cluster', async () => {
      const s = await status(survivor);
      return s !== null && s.leaderId !== null && s.role !== 'joining';
    }, 30_000);
    expect((await status(survivor))?.clusterId).toBe(newClusterId);
    expect(await c.logs(survivor.id)).toMatch(/--force-new-cluster ignored/);
    const again = JSON.parse((await confluxRetrying(survivor.client, ['members', '-o', 'json'])).stdout) as { members: { id: string }[] };
    expect(again.members.map((m) => m.id).sort()).toEqual([survivor.id, 'd', 'e'].sort());
    expect(await readValue(d!.client, 'after/old-nodes')).toEqual({ status: 200, value: 'still-fine' });
  }, 300_000);
});
