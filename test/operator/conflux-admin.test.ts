// The operator's admin client against the node's real client-port app (express routing,
// validation, auth and error shapes; a FakeNode behind it), and against servers that misbehave.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tokenAuthorizer } from '../../node/src/server/auth.js';
import { AdminError, HttpAdminClient } from '../../operator/src/conflux-admin.js';
import { startServer, type TestServer } from '../http/harness.js';
import { freePorts } from '../support/ports.js';

let t: TestServer;
const admin = new HttpAdminClient({ readTimeoutMs: 2000, changeTimeoutMs: 2000 });
const target = () => ({ url: t.url, token: 'the-admin-token' });
const member = { id: 'demo-1', peerURL: 'http://demo-1.demo-peer.ns.svc.cluster.local:7071', clientURL: 'http://demo-1.demo-peer.ns.svc.cluster.local:7070', incarnation: 'inc-9' };

beforeAll(async () => {
  t = await startServer({ authorize: tokenAuthorizer({ clientGrants: [{ token: 'reader', access: 'read', prefix: '' }], adminToken: 'the-admin-token' }) });
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => {
  t.node.clusterId = '';
  t.node.changeInProgress = false;
  t.node.members_ = t.node.members_.filter((m) => m.id === 'n1');
});

describe('HttpAdminClient against the node API', () => {
  it('reads status and members', async () => {
    expect(await admin.status(target())).toMatchObject({ id: 'n1', incarnation: 'inc-1', role: 'leader', leaderId: 'n1' });
    expect(await admin.members(target())).toMatchObject({ leaderId: 'n1', members: [{ id: 'n1', role: 'voter', healthy: true }] });
  });

  it('bootstraps once; a node with state answers 409', async () => {
    expect(await admin.bootstrap(target())).toEqual({ clusterId: 'cluster-1' });
    const err = await admin.bootstrap(target()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdminError);
    expect(err).toMatchObject({ status: 409, code: 'conflict', transient: false });
  });

  it('adds a learner with its incarnation, promotes it, transfers leadership and removes it', async () => {
    const view = await admin.addLearner(target(), member);
    expect(view.members.find((m) => m.id === 'demo-1')).toMatchObject({ role: 'learner', incarnation: 'inc-9', peerURL: member.peerURL });
    expect((await admin.promote(target(), 'demo-1')).members.find((m) => m.id === 'demo-1')!.role).toBe('voter');
    expect(await admin.transferLeader(target(), 'demo-1')).toEqual({ leaderId: 'demo-1' });
    expect(await admin.transferLeader(target())).toEqual({ leaderId: 'demo-1' });
    expect((await admin.remove(target(), 'demo-1')).members.map((m) => m.id)).toEqual(['n1']);
  });

  it('reports the node\'s error codes with their details', async () => {
    t.node.members_.push({ ...member, role: 'learner', lag: 500 });
    await expect(admin.promote(target(), 'demo-1')).rejects.toMatchObject({ status: 409, code: 'not_caught_up', details: { lag: 500 } });
    await expect(admin.remove(target(), 'nobody')).rejects.toMatchObject({ status: 404, code: 'unknown_member' });
    t.node.changeInProgress = true;
    const busy = await admin.addLearner(target(), { ...member, id: 'demo-2' }).catch((e: AdminError) => e);
    expect(busy).toMatchObject({ status: 409, code: 'change_in_progress', transient: true });
  });

  it('sends the admin token; other tokens are refused', async () => {
    await expect(admin.status({ url: t.url })).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    await expect(admin.status({ url: t.url, token: 'reader' })).rejects.toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('quotes member ids in paths', async () => {
    // One path segment: the node sees the id 'a/b' and refuses it, rather than a route that does not exist.
    await expect(admin.remove(target(), 'a/b')).rejects.toMatchObject({ status: 400, code: 'invalid_member_id' });
  });
});

describe('HttpAdminClient failures', () => {
  let server: http.Server;
  let url: string;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => undefined;

  beforeAll(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('times out', async () => {
    handler = () => undefined; // never answers
    const quick = new HttpAdminClient({ readTimeoutMs: 100 });
    const err = await quick.status({ url }).catch((e: AdminError) => e);
    expect(err).toMatchObject({ status: 0, code: 'timeout', transient: true });
  });

  it('reports a refused connection as unreachable', async () => {
    const [port] = await freePorts(1);
    await expect(admin.status({ url: `http://127.0.0.1:${port}` })).rejects.toMatchObject({ status: 0, code: 'unreachable' });
  });

  it('reports an answer that is not JSON, and errors without the JSON shape', async () => {
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hello');
    await expect(admin.status({ url })).rejects.toMatchObject({ status: 200, code: 'bad_answer' });
    handler = (_req, res) => res.writeHead(502).end('{}');
    await expect(admin.members({ url })).rejects.toMatchObject({ status: 502, code: 'http_502', transient: false });
    handler = (_req, res) => res.writeHead(503).end(JSON.stringify({ error: { code: 'no_leader', message: 'no leader' } }));
    await expect(admin.members({ url })).rejects.toMatchObject({ status: 503, code: 'no_leader', transient: true });
  });

  it('sends a request id, JSON bodies, and does not follow redirects', async () => {
    const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    handler = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(307, { Location: 'http://127.0.0.2:9/admin/members' }).end('{}');
      });
    };
    await expect(admin.transferLeader({ url: `${url}/`, token: 't' }, 'demo-2')).rejects.toMatchObject({ status: 307 });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/admin/leader/transfer', body: '{"to":"demo-2"}' });
    expect(seen[0]!.headers).toMatchObject({ authorization: 'Bearer t', 'content-type': 'application/json' });
    expect(seen[0]!.headers['x-request-id']).toMatch(/^conflux-operator-[0-9a-f]{12}$/);
  });

  it('reports a body cut off mid-answer', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('{"id":');
      setTimeout(() => res.destroy(), 10);
    };
    await expect(admin.status({ url })).rejects.toMatchObject({ status: 0, code: 'unreachable' });
  });

  it('uses an injected fetch', async () => {
    const fake = new HttpAdminClient({ fetch: async () => new Response(JSON.stringify({ leaderId: 'x', members: [] }), { status: 200 }) });
    expect(await fake.members({ url: 'http://nowhere' })).toEqual({ leaderId: 'x', members: [] });
    const broken = new HttpAdminClient({ fetch: async () => { throw new TypeError('fetch failed'); } });
    await expect(broken.members({ url: 'http://nowhere' })).rejects.toMatchObject({ code: 'unreachable', message: expect.stringContaining('fetch failed') });
  });
});
