// Black-box tests of real conflux-node processes on 127.0.0.1 (issue 4's list).
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { get, ProcessCluster, put, putRetrying, waitFor } from '../support/process-cluster.js';

let cluster: ProcessCluster | null = null;

afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

async function json(r: Response): Promise<Record<string, unknown>> {
  return (await r.json()) as Record<string, unknown>;
}

async function admin(base: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
}

/** An admin call as an operator makes it: 503 (no leader, not applied) is retried for a while. */
async function adminRetrying(base: string, method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await admin(base, method, path, body);
    if (r.status !== 503 || Date.now() > deadline) return r;
    await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Writes until stopped; records what was acknowledged. Retries through 503s like a client. */
function writer(c: ProcessCluster, prefix: string) {
  const acked = new Map<string, string>();
  // Writes after the last acknowledged one whose outcome is unknown (504, or no answer because the
  // node went away): the contract says they may still be applied, so the store may hold them.
  const unknown = new Map<string, string[]>();
  let stop = false;
  let errors = 0;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const targets = c.running();
      if (targets.length === 0) break;
      const n = targets[i % targets.length]!;
      const key = `${prefix}/k${i % 50}`;
      const value = `v${i}`;
      try {
        const r = await put(n.client, key, value);
        if (r.status === 200 || r.status === 201) {
          acked.set(key, value);
          unknown.delete(key);
        } else {
          errors++;
          if (r.status === 504) unknown.set(key, [...(unknown.get(key) ?? []), value]);
        }
        await r.arrayBuffer();
      } catch {
        errors++;
        unknown.set(key, [...(unknown.get(key) ?? []), value]);
      }
    }
  })();
  return {
    acked,
    /** What a read of `key` may return: the last acknowledged value, or a later one of unknown outcome. */
    possible: (key: string) => [acked.get(key), ...(unknown.get(key) ?? [])],
    errors: () => errors,
    async stop() {
      stop = true;
      await done;
    },
  };
}

describe('a cluster of real processes', () => {
  it('forms from --initial-cluster; writes through any node are readable from all', async () => {
    cluster = new ProcessCluster();
    const nodes = await cluster.startStatic(['a', 'b', 'c']);
    await cluster.leader();
    for (const [i, n] of nodes.entries()) {
      const r = await putRetrying(n.client, `app/from-${n.id}`, `value-${i}`);
      expect([200, 201]).toContain(r.status);
    }
    for (const n of nodes) {
      for (const [i, m] of nodes.entries()) {
        const r = await get(n.client, `app/from-${m.id}`);
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(`value-${i}`);
      }
    }
  });

  it('forms from --bootstrap plus admin adds and promotions; a second concurrent change gets 409', async () => {
    cluster = new ProcessCluster();
    const [a, b, c] = await cluster.define(['a', 'b', 'c']);
    cluster.start('a', ['--bootstrap']);
    cluster.start('b');
    cluster.start('c');
    await waitFor('a to lead', async () => (await cluster!.status('a'))?.role === 'leader');
    expect((await waitFor('b to answer', () => cluster!.status('b'))).role).toBe('joining');
    expect((await putRetrying(a!.client, 'before/join', 'x')).status).toBe(201);
    for (const n of [b!, c!]) {
      const add = await adminRetrying(a!.client, 'POST', '/admin/members', { id: n.id, peerURL: n.peerURL, clientURL: n.client });
      expect(add.status).toBeLessThan(300);
      await waitFor(`${n.id} to catch up`, async () => (await cluster!.status(n.id))?.appliedIndex === (await cluster!.status('a'))?.appliedIndex);
      const promote = await admin(a!.client, 'POST', `/admin/members/${n.id}/promote`);
      expect(promote.status).toBeLessThan(300);
    }
    const members = await json(await adminRetrying(b!.client, 'GET', '/admin/members'));
    expect((members.members as { role: string }[]).map((m) => m.role)).toEqual(['voter', 'voter', 'voter']);
    // The joined node adopted the cluster id and has the data written before it joined.
    expect((await cluster.status('c'))?.clusterId).toBe((await cluster.status('a'))?.clusterId);
    expect(await (await get(c!.client, 'before/join')).text()).toBe('x');
    // A second change while one is in flight is refused with 409. To hold the first one in
    // flight, take the quorum away: it cannot commit.
    const [d, e] = await cluster.define(['d', 'e']);
    await cluster.kill('b');
    await cluster.kill('c');
    const first = admin(a!.client, 'POST', '/admin/members', { id: d!.id, peerURL: d!.peerURL, clientURL: d!.client }).catch(() => null);
    await new Promise((r) => setTimeout(r, 50));
    const second = await admin(a!.client, 'POST', '/admin/members', { id: e!.id, peerURL: e!.peerURL, clientURL: e!.client });
    expect(second.status).toBe(409);
    expect(((await json(second)).error as { code: string }).code).toBe('change_in_progress');
    const firstStatus = (await first)?.status ?? 0;
    expect(firstStatus).not.toBe(200);
  });

  it('a killed leader is replaced within 3 s with default timeouts, and no acknowledged write is lost', async () => {
    cluster = new ProcessCluster([]); // default heartbeat and election timeouts
    await cluster.startStatic(['a', 'b', 'c']);
    const leader = await cluster.leader();
    const w = writer(cluster, 'stream');
    await new Promise((r) => setTimeout(r, 700));
    const killedAt = Date.now();
    await cluster.kill(leader);
    // Failover = until a survivor reports itself leader (polled every 20 ms).
    await waitFor('a new leader', async () => {
      const statuses = await Promise.all(cluster!.running().map((n) => cluster!.status(n.id)));
      return statuses.some((s) => s?.role === 'leader');
    }, 5000, 20);
    const failover = Date.now() - killedAt;
    const next = await cluster.leader(5000);
    await new Promise((r) => setTimeout(r, 500));
    await w.stop();
    expect(next).not.toBe(leader);
    expect(failover).toBeLessThan(3000);
    expect(w.acked.size).toBeGreaterThan(10);
    const reader = cluster.running()[0]!;
    for (const key of w.acked.keys()) {
      const r = await get(reader.client, key);
      expect(w.possible(key)).toContain(await r.text());
    }
  });

  it('a node down while the others compact catches up by snapshot after restart', async () => {
    cluster = new ProcessCluster();
    await cluster.startStatic(['a', 'b', 'c'], ['--snapshot-entries', '100', '--compaction-keep-entries', '10']);
    const leader = await cluster.leader();
    const down = ['a', 'b', 'c'].find((id) => id !== leader)!;
    await cluster.kill(down);
    const base = cluster.node(leader).client;
    for (let i = 0; i < 300; i++) expect([200, 201]).toContain((await putRetrying(base, `k${i % 30}`, `v${i}`)).status);
    cluster.start(down);
    await waitFor('the restarted node to catch up', async () => (await cluster!.status(down))?.appliedIndex === (await cluster!.status(leader))?.appliedIndex, 15_000);
    const r = await get(cluster.node(down).client, 'k29', '?consistency=serializable');
    expect(await r.text()).toBe('v299');
    expect(await cluster.logs(down)).toContain('snapshot installed');
  });

  it('scales 3 -> 5 -> 3 through the admin API under writes, removing the leader last', async () => {
    cluster = new ProcessCluster();
    const nodes = await cluster.startStatic(['a', 'b', 'c']);
    await cluster.leader();
    const w = writer(cluster, 'scale');
    const extra = await cluster.define(['d', 'e']);
    for (const n of extra) {
      cluster.start(n.id);
      const via = nodes[0]!.client;
      expect((await adminRetrying(via, 'POST', '/admin/members', { id: n.id, peerURL: n.peerURL, clientURL: n.client })).status).toBeLessThan(300);
      await waitFor(`promote ${n.id}`, async () => (await admin(via, 'POST', `/admin/members/${n.id}/promote`)).status < 300, 15_000, 200);
    }
    const five = await json(await adminRetrying(nodes[0]!.client, 'GET', '/admin/members'));
    expect((five.members as { role: string }[]).filter((m) => m.role === 'voter').length).toBe(5);
    // Scale in: remove two members, the leader among them.
    const leader = await cluster.leader();
    const victims = [leader, ...['d', 'e'].filter((id) => id !== leader)].slice(0, 2);
    for (const id of victims) {
      const via = cluster.running().find((n) => !victims.includes(n.id))!.client;
      const r = await waitFor(`remove ${id}`, async () => {
        const res = await admin(via, 'DELETE', `/admin/members/${id}`);
        return res.status < 300 || res.status === 404 ? res : null;
      }, 15_000, 200);
      expect(r.status).toBeLessThan(300);
      await cluster.kill(id, 'SIGTERM');
    }
    const newLeader = await cluster.leader();
    expect(victims).not.toContain(newLeader);
    await new Promise((r) => setTimeout(r, 300));
    await w.stop();
    const three = await json(await adminRetrying(cluster.node(newLeader).client, 'GET', '/admin/members'));
    expect((three.members as { id: string }[]).map((m) => m.id).sort()).toEqual(['a', 'b', 'c', 'd', 'e'].filter((id) => !victims.includes(id)).sort());
    const reader = cluster.node(newLeader).client;
    for (const key of w.acked.keys()) expect(w.possible(key)).toContain(await (await get(reader, key)).text());
  });

  it('a node whose data directory was wiped is refused until removed and re-added, then catches up', async () => {
    cluster = new ProcessCluster();
    await cluster.startStatic(['a', 'b', 'c']);
    const leader = await cluster.leader();
    const victim = ['a', 'b', 'c'].find((id) => id !== leader)!;
    const leaderURL = cluster.node(leader).client;
    expect((await putRetrying(leaderURL, 'keep/me', 'safe')).status).toBe(201);
    // Wait until the incarnations are pinned, then wipe the victim's disk.
    await waitFor('pinned incarnations', async () => {
      const m = await json(await admin(leaderURL, 'GET', '/admin/members'));
      return (m.members as { incarnation: string }[]).every((x) => x.incarnation !== '');
    });
    const oldIncarnation = (await cluster.status(victim))!.incarnation;
    await cluster.kill(victim);
    rmSync(cluster.node(victim).dataDir, { recursive: true, force: true });
    cluster.node(victim).extraArgs = []; // a replacement node waits to be added
    cluster.start(victim);
    await waitFor('the wiped node to refuse the leader', async () => (await cluster!.logs(victim)).includes('incarnation_mismatch'), 10_000);
    const fresh = (await cluster.status(victim))!;
    expect(fresh.incarnation).not.toBe(oldIncarnation);
    expect(fresh.appliedIndex).toBe(0);
    expect((await admin(leaderURL, 'DELETE', `/admin/members/${victim}`)).status).toBeLessThan(300);
    const v = cluster.node(victim);
    expect((await admin(leaderURL, 'POST', '/admin/members', { id: victim, peerURL: v.peerURL, clientURL: v.client, incarnation: fresh.incarnation })).status).toBeLessThan(300);
    await waitFor('the re-added node to catch up', async () => (await (await get(v.client, 'keep/me', '?consistency=serializable')).text()) === 'safe', 10_000);
    await waitFor('promotion', async () => (await admin(leaderURL, 'POST', `/admin/members/${victim}/promote`)).status < 300, 10_000, 200);
  });

  it('10 clients incrementing one counter with If-Match end with the exact count', async () => {
    cluster = new ProcessCluster();
    const nodes = await cluster.startStatic(['a', 'b', 'c']);
    await cluster.leader();
    expect((await putRetrying(nodes[0]!.client, 'counter', '0', { 'if-none-match': '*' })).status).toBe(201);
    const perClient = 10;
    await Promise.all(
      Array.from({ length: 10 }, async (_, c) => {
        const base = nodes[c % nodes.length]!.client;
        for (let done = 0; done < perClient; ) {
          const r = await get(base, 'counter');
          if (r.status !== 200) {
            // 503: nothing happened, retrying is safe (an election under load).
            expect(r.status, await r.text()).toBe(503);
            continue;
          }
          const etag = r.headers.get('etag')!;
          const n = Number(await r.text());
          const w = await put(base, 'counter', String(n + 1), { 'if-match': etag });
          const body = await w.text();
          if (w.status === 200) done++;
          // 412: another client won the race; 503: not applied. A 504 would leave the count unknown.
          else expect([412, 503], body).toContain(w.status);
        }
      }),
    );
    expect(await (await get(nodes[1]!.client, 'counter')).text()).toBe('100');
  });

  it('a watch held across a leader change and a reconnect to another node sees every revision once, in order', async () => {
    cluster = new ProcessCluster();
    const nodes = await cluster.startStatic(['a', 'b', 'c']);
    const leader = await cluster.leader();
    const watchNode = nodes.find((n) => n.id !== leader)!;
    const seen: number[] = [];
    const readStream = async (base: string, lastEventId: number | null, untilRevision: number) => {
      const headers: Record<string, string> = {};
      if (lastEventId !== null) headers['last-event-id'] = String(lastEventId);
      const ac = new AbortController();
      const r = await fetch(`${base}/v1/watch?prefix=w/&fromRevision=1`, { headers, signal: ac.signal });
      expect(r.status).toBe(200);
      const reader = r.body!.getReader();
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += new TextDecoder().decode(value);
          let idx;
          while ((idx = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            const id = /^id: (\d+)$/m.exec(block)?.[1];
            if (id) seen.push(Number(id));
            if (Number(id) >= untilRevision) return;
          }
        }
      } finally {
        ac.abort();
      }
    };
    for (let i = 0; i < 20; i++) expect([200, 201]).toContain((await putRetrying(nodes[0]!.client, `w/k${i}`, `v${i}`)).status);
    await readStream(watchNode.client, null, 10);
    // Leader change, then more writes, then resume on a different node.
    await admin(cluster.node(leader).client, 'POST', '/admin/leader/transfer', {});
    await cluster.leader();
    for (let i = 20; i < 40; i++) expect([200, 201]).toContain((await putRetrying(nodes[0]!.client, `w/k${i}`, `v${i}`)).status);
    const other = nodes.find((n) => n.id !== watchNode.id)!;
    await readStream(other.client, seen.at(-1)!, 40);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
