// The admin API: status, members (list/add/promote/remove), leader transfer, bootstrap, snapshot,
// and the validation in front of them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeNode } from './fake-node.js';
import { errorBody, json, rawRequest, startServer, type TestServer } from './harness.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({ options: { maxAdminBodyBytes: 512 } });
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => {
  t.node.reset();
  t.node.members_ = new FakeNode('n1').members_;
  t.node.changeInProgress = false;
  t.node.clusterId = '';
});

const post = (path: string, body?: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
  fetch(`${t.url}${path}`, {
    method: 'POST',
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });

const member = { id: 'n2', peerURL: 'http://10.0.0.2:7071', clientURL: 'https://n2.conflux.svc:7070' };

describe('GET /admin/status', () => {
  it('describes this node', async () => {
    const res = await fetch(`${t.url}/admin/status`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      id: 'n1',
      incarnation: 'inc-1',
      role: 'leader',
      term: 1,
      leaderId: 'n1',
      commitIndex: 0,
      appliedIndex: 0,
      lastLogIndex: 0,
      snapshotIndex: 0,
    });
  });
});

describe('/admin/members', () => {
  it('adds a learner, idempotently for the same id and URLs', async () => {
    const res = await post('/admin/members', member);
    expect(res.status).toBe(200);
    const view = (await res.json()) as { leaderId: string; members: { id: string; role: string }[] };
    expect(view.leaderId).toBe('n1');
    expect(view.members.find((m) => m.id === 'n2')?.role).toBe('learner');
    expect((await post('/admin/members', member)).status).toBe(200);
    expect(t.node.members_.filter((m) => m.id === 'n2')).toHaveLength(1);
    const list = (await (await fetch(`${t.url}/admin/members`)).json()) as { members: unknown[] };
    expect(list.members).toHaveLength(2);
  });

  it('passes an incarnation through', async () => {
    expect((await post('/admin/members', { ...member, incarnation: 'a1b2-c3' })).status).toBe(200);
    expect(t.node.members_.find((m) => m.id === 'n2')?.incarnation).toBe('a1b2-c3');
  });

  it.each([
    ['not JSON', '{"id": ', 'invalid_json'],
    ['an array', '[1]', 'invalid_json'],
    ['an empty body', undefined, 'invalid_member_id'],
    ['no id', { peerURL: member.peerURL, clientURL: member.clientURL }, 'invalid_member_id'],
    ['an id with a slash', { ...member, id: 'n/2' }, 'invalid_member_id'],
    ['an id of 64 characters', { ...member, id: 'n'.repeat(64) }, 'invalid_member_id'],
    ['a numeric id', { ...member, id: 2 }, 'invalid_member_id'],
    ['a relative URL', { ...member, peerURL: '10.0.0.2:7071' }, 'invalid_url'],
    ['an ftp URL', { ...member, peerURL: 'ftp://10.0.0.2/' }, 'invalid_url'],
    ['a URL with credentials', { ...member, clientURL: 'http://user:pw@n2:7070' }, 'invalid_url'],
    ['a missing clientURL', { id: 'n2', peerURL: member.peerURL }, 'invalid_url'],
    ['a bad incarnation', { ...member, incarnation: 'has space' }, 'invalid_argument'],
    ['an unknown field', { ...member, peerUrl: 'http://typo' }, 'invalid_argument'],
  ])('refuses %s with 400', async (_what, body, code) => {
    const res = await post('/admin/members', body);
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe(code);
    expect(t.node.members_).toHaveLength(1);
  });

  it('accepts an id of exactly 63 characters', async () => {
    expect((await post('/admin/members', { ...member, id: 'n'.repeat(63) })).status).toBe(200);
  });

  it('refuses an oversized body with 413', async () => {
    const res = await post('/admin/members', { ...member, incarnation: 'x'.repeat(600) });
    expect(res.status).toBe(413);
    expect((await errorBody(res)).code).toBe('too_large');
  });

  it('409 change_in_progress while another change is in flight', async () => {
    t.node.changeInProgress = true;
    const res = await post('/admin/members', member);
    expect(res.status).toBe(409);
    expect((await errorBody(res)).code).toBe('change_in_progress');
  });

  it('promotes a caught-up learner; 409 with the lag otherwise; 404 for an unknown member', async () => {
    await post('/admin/members', member);
    const ok = await post('/admin/members/n2/promote');
    expect(ok.status).toBe(200);
    expect(t.node.members_.find((m) => m.id === 'n2')?.role).toBe('voter');
    await post('/admin/members', { ...member, id: 'n3' });
    const n3 = t.node.members_.find((m) => m.id === 'n3');
    if (n3 !== undefined) n3.lag = 500;
    const behind = await post('/admin/members/n3/promote');
    expect(behind.status).toBe(409);
    const err = await errorBody(behind);
    expect(err.code).toBe('not_caught_up');
    expect(err.lag).toBe(500);
    const unknown = await post('/admin/members/n9/promote');
    expect(unknown.status).toBe(404);
    expect((await errorBody(unknown)).code).toBe('unknown_member');
    const bad = await post('/admin/members/bad%20id/promote');
    expect(bad.status).toBe(400);
    expect((await errorBody(bad)).code).toBe('invalid_member_id');
  });

  it('removes a member', async () => {
    await post('/admin/members', member);
    const res = await fetch(`${t.url}/admin/members/n2`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(t.node.members_.map((m) => m.id)).toEqual(['n1']);
    expect((await fetch(`${t.url}/admin/members/n2`, { method: 'DELETE' })).status).toBe(404);
  });

  it('?local=true answers from this node even without a leader', async () => {
    t.node.becomeFollower(null, null);
    try {
      const res = await fetch(`${t.url}/admin/members?local=true`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { leaderId: unknown }).leaderId).toBeNull();
    } finally {
      t.node.becomeLeader();
    }
  });
});

describe('leader transfer, bootstrap, snapshot', () => {
  it('transfers to a named member or the best voter; refuses a bad id', async () => {
    await post('/admin/members', member);
    await post('/admin/members/n2/promote');
    const named = await post('/admin/leader/transfer', { to: 'n2' });
    expect(named.status).toBe(200);
    expect(await json(named)).toEqual({ leaderId: 'n2' });
    const any = await post('/admin/leader/transfer');
    expect(await json(any)).toEqual({ leaderId: 'n2' });
    const bad = await post('/admin/leader/transfer', { to: '../n2' });
    expect(bad.status).toBe(400);
    const unknown = await post('/admin/leader/transfer', { to: 'n9' });
    expect(unknown.status).toBe(404);
  });

  it('bootstraps once, then 409', async () => {
    const res = await post('/admin/bootstrap');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ clusterId: 'cluster-1' });
    const again = await post('/admin/bootstrap');
    expect(again.status).toBe(409);
    expect((await errorBody(again)).code).toBe('conflict');
  });

  it('takes a snapshot', async () => {
    t.node.applyNow({ type: 'put', key: 'k', value: new Uint8Array([1]), contentType: 'a/b' });
    const res = await post('/admin/snapshot');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ index: 1, term: 1 });
  });

  it('an empty body is an empty object for calls with optional input', async () => {
    const res = await rawRequest(t.url, { method: 'POST', path: '/admin/snapshot' });
    expect(res.status).toBe(200);
  });
});
