// Authentication on a real 3-node cluster started with all three token files (design section 4):
// 401 without a token, 403 outside its scope, in-scope requests work through any node, the admin
// API needs the admin token, probes stay open, a node with the wrong peer token can neither join
// nor disrupt, and every write and membership change leaves an audit line in the leader's log.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFingerprint } from '../../node/src/server/http/audit.js';
import { ProcessCluster, waitFor, type ProcNode } from '../support/process-cluster.js';

const READER = 'reader-token-7c1f0e';
const WRITER = 'writer-token-a93d21';
const ADMIN = 'admin-token-55e0b8';
const PEER = 'peer-token-0f4c9a';
const WRONG_PEER = 'intruder-peer-token-d00d';

let cluster: ProcessCluster;
let nodes: ProcNode[];
let wrongPeerFile: string;

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

function req(base: string, path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const { token, headers, ...rest } = init;
  return fetch(`${base}${path}`, {
    ...rest,
    headers: { ...(token === undefined ? {} : auth(token)), ...(headers as Record<string, string> | undefined) },
    signal: AbortSignal.timeout(15_000),
  });
}

async function code(r: Response): Promise<string> {
  expect(r.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await r.json()) as { error: { code: string; message: string } };
  expect(typeof body.error.message).toBe('string');
  return body.error.code;
}

interface LogLine {
  message: string;
  [k: string]: unknown;
}

async function logLines(id: string): Promise<LogLine[]> {
  return (await cluster.logs(id))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

async function serializable(n: ProcNode, key: string): Promise<string | null> {
  const r = await req(n.client, `/v1/kv/${key}?consistency=serializable`, { token: ADMIN });
  return r.status === 200 ? r.text() : (await r.arrayBuffer(), null);
}

beforeAll(async () => {
  // Default Raft timing (100 ms ticks, elections after 1-2 s of silence): the disruption test below
  // compares terms, and a loaded machine must not cause an election of its own.
  cluster = new ProcessCluster([]);
  const tokens = join(cluster.root, 'client-tokens');
  writeFileSync(tokens, `# test tokens\n${READER} read app/\n${WRITER} readwrite app/\n`);
  const admin = join(cluster.root, 'admin-token');
  writeFileSync(admin, `${ADMIN}\n`);
  const peer = join(cluster.root, 'peer-token');
  writeFileSync(peer, `  ${PEER}\n`);
  wrongPeerFile = join(cluster.root, 'wrong-peer-token');
  writeFileSync(wrongPeerFile, WRONG_PEER);
  cluster.adminToken = ADMIN;
  nodes = await cluster.startStatic(['a', 'b', 'c'], ['--auth-token-file', tokens, '--admin-token-file', admin, '--peer-token-file', peer]);
  await cluster.leader(30_000);
});

afterAll(async () => {
  await cluster.destroy();
});

describe('a 3-node cluster with client, admin and peer tokens', () => {
  it('401 without a valid token, 403 outside the scope, on every node', async () => {
    for (const n of nodes) {
      const none = await req(n.client, '/v1/kv/app/x');
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await code(none)).toBe('unauthorized');
      const bad = await req(n.client, '/v1/kv/app/x', { method: 'PUT', body: 'v', token: 'not-a-token' });
      expect(bad.status).toBe(401);
      expect(await code(bad)).toBe('unauthorized');
      const outside = await req(n.client, '/v1/kv/other/x', { token: READER });
      expect(outside.status).toBe(403);
      expect(await code(outside)).toBe('forbidden');
      const readOnly = await req(n.client, '/v1/kv/app/x', { method: 'PUT', body: 'v', token: READER });
      expect(readOnly.status).toBe(403);
      const wideList = await req(n.client, '/v1/kv?prefix=', { token: WRITER });
      expect(wideList.status).toBe(403);
      await wideList.arrayBuffer();
    }
    // None of it was written.
    const r = await req(nodes[0]!.client, '/v1/kv/app/x', { token: ADMIN });
    expect(r.status).toBe(404);
  });

  it('in-scope writes and reads work through every node (followers forward the token to the leader)', async () => {
    for (const [i, n] of nodes.entries()) {
      const w = await req(n.client, `/v1/kv/app/from-${n.id}`, { method: 'PUT', body: `value-${i}`, token: WRITER });
      expect(w.status, await w.clone().text()).toBe(201);
    }
    for (const n of nodes) {
      for (const [i, m] of nodes.entries()) {
        const r = await req(n.client, `/v1/kv/app/from-${m.id}`, { token: READER });
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(`value-${i}`);
      }
      const list = await req(n.client, '/v1/kv?prefix=app/', { token: READER });
      expect(list.status).toBe(200);
      expect(((await list.json()) as { items: unknown[] }).items).toHaveLength(3);
    }
    // The admin token is also every client access.
    expect((await req(nodes[1]!.client, '/v1/kv/elsewhere/k', { method: 'PUT', body: 'x', token: ADMIN })).status).toBe(201);
  });

  it('the admin API needs the admin token; /healthz, /readyz and /metrics stay open', async () => {
    for (const n of nodes) {
      expect((await req(n.client, '/admin/status')).status).toBe(401);
      const asClient = await req(n.client, '/admin/members', { token: WRITER });
      expect(asClient.status).toBe(403);
      expect(await code(asClient)).toBe('forbidden');
      expect((await req(n.client, '/admin/snapshot', { method: 'POST', token: READER })).status).toBe(403);
      expect((await req(n.client, '/admin/leader/transfer', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
      const members = await req(n.client, '/admin/members', { token: ADMIN });
      expect(members.status).toBe(200);
      expect(((await members.json()) as { members: unknown[] }).members).toHaveLength(3);
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const r = await req(n.client, path);
        expect(r.status, `${n.id} ${path}`).toBe(200);
        await r.arrayBuffer();
      }
    }
  });

  it('the peer port refuses requests without the peer token', async () => {
    for (const n of nodes) {
      for (const headers of [{}, auth(WRONG_PEER), auth(ADMIN)]) {
        const r = await fetch(`${n.peerURL}/raft/vote`, { method: 'POST', body: 'x', headers });
        expect(r.status).toBe(401);
        expect(await code(r)).toBe('unauthorized');
      }
    }
  });

  it('a member restarted with the wrong peer token is cut off and cannot disrupt; with the right one it catches up', async () => {
    const leader = await cluster.leader();
    const victim = nodes.find((n) => n.id !== leader)!;
    const others = nodes.filter((n) => n.id !== victim.id);
    await cluster.kill(victim.id);
    cluster.start(victim.id, ['--peer-token-file', wrongPeerFile]);
    await waitFor('the intruder to serve', () => cluster.status(victim.id), 30_000);
    const terms = await Promise.all(others.map(async (n) => (await cluster.status(n.id))!.term));
    // Writes go on with the two that share the token.
    for (let i = 0; i < 20; i++) {
      const w = await req(others[i % 2]!.client, `/v1/kv/app/while-cut-off-${i}`, { method: 'PUT', body: `w${i}`, token: WRITER });
      expect(w.status).toBe(201);
    }
    // Give the intruder a few election timeouts (1-2 s each) to try.
    await new Promise((r) => setTimeout(r, 4500));
    expect(await serializable(victim, 'app/while-cut-off-19')).toBeNull();
    const after = await Promise.all(others.map((n) => cluster.status(n.id)));
    expect(after.map((s) => s!.term)).toEqual(terms);
    expect(after.map((s) => s!.leaderId)).toEqual([leader, leader]);
    const cutOff = await cluster.status(victim.id);
    expect(cutOff?.leaderId).not.toBe(leader);
    // Both sides log that the other refused their messages (401 on the peer port).
    const refused = (lines: LogLine[]) => lines.some((l) => l.message === 'peer refused messages' && l.status === 401);
    expect(refused(await logLines(leader))).toBe(true);
    expect(refused(await logLines(victim.id))).toBe(true);

    await cluster.kill(victim.id);
    cluster.start(victim.id);
    await waitFor('the member to catch up with the right token', async () => (await serializable(victim, 'app/while-cut-off-19')) === 'w19', 30_000);
    expect(await cluster.leader()).toBe(leader);
  });

  it('a new node with the wrong peer token added as a learner never catches up and cannot be promoted', async () => {
    const [x] = await cluster.define(['x']);
    // Starts without --initial-cluster: it waits to be added.
    cluster.start('x', ['--peer-token-file', wrongPeerFile]);
    await waitFor('x to serve', () => cluster.status('x'), 30_000);
    const leaderId = (await cluster.status('a'))!.leaderId!;
    const leaderURL = cluster.node(leaderId).client;
    const add = await req(leaderURL, '/admin/members', {
      method: 'POST',
      token: ADMIN,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'x', peerURL: x!.peerURL, clientURL: x!.client }),
    });
    expect(add.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    const status = await cluster.status('x');
    expect(status?.role).toBe('joining');
    expect(status?.clusterId).toBe('');
    const promote = await req(leaderURL, '/admin/members/x/promote', { method: 'POST', token: ADMIN });
    expect(promote.status).toBe(409);
    expect(await code(promote)).toBe('not_caught_up');
    const remove = await req(leaderURL, '/admin/members/x', { method: 'DELETE', token: ADMIN });
    expect(remove.status).toBe(200);
    await cluster.kill('x');
    expect(await cluster.leader()).toBe(leaderId);
    // The cluster is unharmed.
    const w = await req(leaderURL, '/v1/kv/app/after-intruder', { method: 'PUT', body: 'ok', token: WRITER });
    expect(w.status).toBe(201);
  });

  it('every write and membership change left an audit line in the answering leader\'s log, and no token anywhere', async () => {
    const all = await Promise.all(['a', 'b', 'c'].map((id) => logLines(id)));
    const audits = all.flat().filter((l) => l.message === 'audit');
    const writer = tokenFingerprint(WRITER);
    for (const n of nodes) {
      const line = audits.find((l) => l.key === `app/from-${n.id}`);
      expect(line, `audit of app/from-${n.id}`).toMatchObject({ who: writer, action: 'put', revision: expect.any(Number) });
    }
    // A forwarded write is audited once, by the leader that applied it, naming the follower.
    const forwarded = audits.filter((l) => typeof l.forwardedBy === 'string');
    expect(forwarded.length).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) expect(audits.filter((l) => l.key === `app/while-cut-off-${i}`)).toHaveLength(1);
    expect(audits.find((l) => l.key === 'elsewhere/k')).toMatchObject({ who: 'admin', action: 'put' });
    for (const action of ['member-add', 'member-remove']) {
      expect(audits.find((l) => l.action === action && l.member === 'x'), action).toMatchObject({ who: 'admin', index: expect.any(Number) });
    }
    const revisions = audits.filter((l) => l.action === 'put').map((l) => l.revision as number);
    expect(new Set(revisions).size).toBe(revisions.length);
    const text = (await Promise.all(['a', 'b', 'c', 'x'].map((id) => cluster.logs(id)))).join('\n');
    for (const secret of [READER, WRITER, ADMIN, PEER, WRONG_PEER]) expect(text).not.toContain(secret);
  });
});
