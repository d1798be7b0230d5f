// Token authentication and authorization (design section 4), below the process level: token file
// parsing, prefix scoping, read vs readwrite, the admin token, 401 vs 403, constant-time
// comparison, and the audit line of every write and membership change.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Request } from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseClientTokens, readSingleToken, TokenFileError, tokenAuthorizer, type ClientGrant } from '../../node/src/server/auth.js';
import { principalOf, tokenFingerprint } from '../../node/src/server/http/audit.js';
import { ForbiddenError, UnauthorizedError } from '../../node/src/server/http/errors.js';
import type { AccessNeed } from '../../node/src/server/http/types.js';
import { createPeerRequestListener } from '../../node/src/server/peer-server.js';
import { silentLogger } from '../../node/src/server/logger.js';
import { tokensEqual } from '../../node/src/server/tokens.js';
import { errorBody, startServer, type TestServer } from '../http/harness.js';

// Count the comparisons that go through the constant-time primitive: every token check in the
// authorizer and the peer server must reach crypto.timingSafeEqual, never `===`.
const counters = vi.hoisted(() => ({ timingSafeEqual: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
    counters.timingSafeEqual++;
    return actual.timingSafeEqual(a, b);
  };
  return { ...actual, default: { ...actual, timingSafeEqual }, timingSafeEqual };
});

function fakeRequest(authorization?: string): Request {
  return { headers: authorization === undefined ? {} : { authorization } } as unknown as Request;
}

/** Runs the authorizer; returns 'ok', 401 or 403. */
function outcome(authorize: ReturnType<typeof tokenAuthorizer>, authorization: string | undefined, need: AccessNeed): 'ok' | 401 | 403 {
  try {
    void authorize(fakeRequest(authorization), need);
    return 'ok';
  } catch (err) {
    if (err instanceof UnauthorizedError) return 401;
    if (err instanceof ForbiddenError) return 403;
    throw err;
  }
}

describe('parseClientTokens (--auth-token-file)', () => {
  it('reads TOKEN ACCESS PREFIX lines, skipping comments and blank lines; * means every key', () => {
    const text = [
      '# client tokens for acme',
      '',
      'tok-reader   read       acme/checkout/   # the checkout team reads',
      '\ttok-writer\treadwrite\tacme/checkout/prod/',
      'tok-all readwrite *',
      '   # indented comment',
      'tok-reader read acme/billing/',
    ].join('\n');
    expect(parseClientTokens(text)).toEqual<ClientGrant[]>([
      { token: 'tok-reader', access: 'read', prefix: 'acme/checkout/' },
      { token: 'tok-writer', access: 'readwrite', prefix: 'acme/checkout/prod/' },
      { token: 'tok-all', access: 'readwrite', prefix: '' },
      { token: 'tok-reader', access: 'read', prefix: 'acme/billing/' },
    ]);
  });

  it('accepts CRLF line endings and an empty file', () => {
    expect(parseClientTokens('a read x/\r\nb readwrite *\r\n')).toEqual([
      { token: 'a', access: 'read', prefix: 'x/' },
      { token: 'b', access: 'readwrite', prefix: '' },
    ]);
    expect(parseClientTokens('')).toEqual([]);
    expect(parseClientTokens('# nothing but comments\n\n')).toEqual([]);
  });

  it.each([
    ['a line with two fields', 'ok read x/\nonly-token read\n', 2, /expected "TOKEN read\|readwrite PREFIX", got 2 fields/],
    ['a line with four fields', '\n\nt read x/ extra', 3, /got 4 fields/],
    ['a line with one field', '# c\n\n\nlonely', 4, /got 1 fields/],
    ['an unknown access', 't read x/\nt2 write x/', 2, /access must be read or readwrite, got write/],
    ['an access in capitals', 't READ x/', 1, /access must be read or readwrite, got READ/],
  ])('refuses %s with the file name and line number', (_what, text, line, message) => {
    let error: unknown;
    try {
      parseClientTokens(text, '/etc/conflux/tokens');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TokenFileError);
    expect((error as Error).message).toMatch(new RegExp(`^/etc/conflux/tokens:${line}: `));
    expect((error as Error).message).toMatch(message);
    expect((error as TokenFileError).code).toBe('token_file');
  });
});

describe('readSingleToken (--admin-token-file, --peer-token-file)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'conflux-auth-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is the whole file without surrounding white space (a mounted Secret ends with a newline)', () => {
    const file = join(dir, 'admin');
    writeFileSync(file, '\n  s3cr3t-admin-token \n\n');
    expect(readSingleToken(file)).toBe('s3cr3t-admin-token');
  });

  it('refuses an empty or blank file, and a missing one', () => {
    const file = join(dir, 'blank');
    writeFileSync(file, ' \n\t\n');
    expect(() => readSingleToken(file)).toThrow(TokenFileError);
    expect(() => readSingleToken(file)).toThrow(/is empty/);
    expect(() => readSingleToken(join(dir, 'missing'))).toThrow(/ENOENT/);
  });
});

describe('tokensEqual', () => {
  it('is equality, whatever the lengths', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('abc', 'abcd')).toBe(false);
    expect(tokensEqual('', 'abc')).toBe(false);
    expect(tokensEqual('é', 'e\u0301')).toBe(false);
    expect(tokensEqual('x'.repeat(10_000), 'x'.repeat(10_000))).toBe(true);
  });

  it('compares with crypto.timingSafeEqual', () => {
    const before = counters.timingSafeEqual;
    tokensEqual('a', 'b');
    tokensEqual('a-much-longer-token', 'b');
    expect(counters.timingSafeEqual - before).toBe(2);
  });
});

describe('tokenAuthorizer', () => {
  const grants = parseClientTokens(
    [
      'reader read acme/checkout/',
      'writer readwrite acme/checkout/prod/',
      'writer read acme/', // the same token on two lines: the grants add up
      'everything readwrite *',
      'global-reader read *',
    ].join('\n'),
  );
  const authorize = tokenAuthorizer({ clientGrants: grants, adminToken: 'the-admin' });
  const bearer = (t: string) => `Bearer ${t}`;

  it('401 without a token, with another scheme, with an empty or an unknown token', () => {
    for (const header of [undefined, '', 'Basic cmVhZGVyOng=', 'reader', 'Bearer', 'Bearer    ', 'Bearer nobody', 'Bearer reader2', 'Bearer reade']) {
      expect(outcome(authorize, header, { kind: 'read', key: 'acme/checkout/x' }), String(header)).toBe(401);
    }
  });

  it('the Bearer scheme is case-insensitive and surrounding white space is ignored', () => {
    expect(outcome(authorize, 'bearer reader', { kind: 'read', key: 'acme/checkout/x' })).toBe('ok');
    expect(outcome(authorize, 'BEARER   reader  ', { kind: 'read', key: 'acme/checkout/x' })).toBe('ok');
  });

  it('a read token reads keys under its prefix, and nothing else', () => {
    const r = bearer('reader');
    expect(outcome(authorize, r, { kind: 'read', key: 'acme/checkout/prod/db.yaml' })).toBe('ok');
    expect(outcome(authorize, r, { kind: 'read', key: 'acme/checkout/' })).toBe('ok');
    expect(outcome(authorize, r, { kind: 'read', key: 'acme/checkoutx/a' })).toBe(403);
    expect(outcome(authorize, r, { kind: 'read', key: 'acme/billing/a' })).toBe(403);
    expect(outcome(authorize, r, { kind: 'read', key: 'acme/checkout' })).toBe(403);
    expect(outcome(authorize, r, { kind: 'write', key: 'acme/checkout/prod/db.yaml' })).toBe(403);
    expect(outcome(authorize, r, { kind: 'admin' })).toBe(403);
  });

  it('a listing or a watch needs the whole prefix covered', () => {
    const r = bearer('reader');
    expect(outcome(authorize, r, { kind: 'read', prefix: 'acme/checkout/' })).toBe('ok');
    expect(outcome(authorize, r, { kind: 'read', prefix: 'acme/checkout/prod/' })).toBe('ok');
    // `acme/` would list keys outside acme/checkout/.
    expect(outcome(authorize, r, { kind: 'read', prefix: 'acme/' })).toBe(403);
    expect(outcome(authorize, r, { kind: 'read', prefix: 'acme/checkout' })).toBe(403);
    expect(outcome(authorize, r, { kind: 'read', prefix: '' })).toBe(403);
    expect(outcome(authorize, bearer('global-reader'), { kind: 'read', prefix: '' })).toBe('ok');
  });

  it('readwrite writes under its prefix; several lines for one token add up', () => {
    const w = bearer('writer');
    expect(outcome(authorize, w, { kind: 'write', key: 'acme/checkout/prod/db.yaml' })).toBe('ok');
    expect(outcome(authorize, w, { kind: 'write', key: 'acme/checkout/staging/db.yaml' })).toBe(403);
    // Read on acme/ comes from the second line.
    expect(outcome(authorize, w, { kind: 'read', key: 'acme/checkout/staging/db.yaml' })).toBe('ok');
    expect(outcome(authorize, w, { kind: 'read', prefix: 'acme/' })).toBe('ok');
    expect(outcome(authorize, w, { kind: 'read', key: 'other/a' })).toBe(403);
    expect(outcome(authorize, w, { kind: 'admin' })).toBe(403);
  });

  it('* grants every key but not the admin API', () => {
    const e = bearer('everything');
    for (const key of ['a', 'acme/checkout/prod/x', 'zzz/\u00e9']) {
      expect(outcome(authorize, e, { kind: 'write', key })).toBe('ok');
      expect(outcome(authorize, e, { kind: 'read', key })).toBe('ok');
    }
    expect(outcome(authorize, e, { kind: 'read', prefix: '' })).toBe('ok');
    expect(outcome(authorize, e, { kind: 'admin' })).toBe(403);
  });

  it('the admin token grants everything, including every client access', () => {
    const a = bearer('the-admin');
    for (const need of [
      { kind: 'admin' },
      { kind: 'read', prefix: '' },
      { kind: 'read', key: 'x/y' },
      { kind: 'write', key: 'any/key/at/all' },
    ] as AccessNeed[]) {
      expect(outcome(authorize, a, need)).toBe('ok');
    }
  });

  it('with an admin token only, client tokens do not exist and the admin token still works', () => {
    const adminOnly = tokenAuthorizer({ clientGrants: [], adminToken: 'the-admin' });
    expect(outcome(adminOnly, 'Bearer reader', { kind: 'read', key: 'acme/checkout/x' })).toBe(401);
    expect(outcome(adminOnly, 'Bearer the-admin', { kind: 'write', key: 'acme/checkout/x' })).toBe('ok');
  });

  it('without an admin token nothing reaches the admin API', () => {
    const noAdmin = tokenAuthorizer({ clientGrants: grants });
    expect(outcome(noAdmin, 'Bearer everything', { kind: 'admin' })).toBe(403);
    expect(outcome(noAdmin, 'Bearer the-admin', { kind: 'admin' })).toBe(401);
  });

  it('checks every grant with the constant-time comparison (no early exit on the first match)', () => {
    const before = counters.timingSafeEqual;
    outcome(authorize, 'Bearer reader', { kind: 'read', key: 'acme/checkout/x' });
    // The admin token, then each of the five grants.
    expect(counters.timingSafeEqual - before).toBe(1 + grants.length);
    const before2 = counters.timingSafeEqual;
    outcome(authorize, 'Bearer not-a-token', { kind: 'read', key: 'acme/checkout/x' });
    expect(counters.timingSafeEqual - before2).toBe(1 + grants.length);
  });

  it('records who the request is for the audit log: "admin" or a hash prefix, never the token', () => {
    const req = fakeRequest('Bearer writer');
    void authorize(req, { kind: 'write', key: 'acme/checkout/prod/a' });
    expect(principalOf(req)).toBe(tokenFingerprint('writer'));
    expect(principalOf(req)).toMatch(/^token:[0-9a-f]{12}$/);
    expect(principalOf(req)).not.toContain('writer');
    const adminReq = fakeRequest('Bearer the-admin');
    void authorize(adminReq, { kind: 'admin' });
    expect(principalOf(adminReq)).toBe('admin');
    expect(principalOf(fakeRequest())).toBe('anonymous');
  });
});

describe('over HTTP: status codes, error shape, open probes and the audit line', () => {
  let t: TestServer;
  const grants = parseClientTokens('reader read app/\nwriter readwrite app/\n');
  beforeAll(async () => {
    t = await startServer({ authorize: tokenAuthorizer({ clientGrants: grants, adminToken: 'admin-secret' }) });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => {
    t.node.reset();
    t.logger.lines.length = 0;
  });
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('401 carries WWW-Authenticate and the JSON error shape; 403 the JSON error shape', async () => {
    const none = await fetch(`${t.url}/v1/kv/app/a`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="conflux"');
    expect((await errorBody(none)).code).toBe('unauthorized');
    const unknown = await fetch(`${t.url}/v1/kv/app/a`, { headers: as('who-knows') });
    expect(unknown.status).toBe(401);
    expect((await errorBody(unknown)).code).toBe('unauthorized');
    const scope = await fetch(`${t.url}/v1/kv/other/a`, { headers: as('reader') });
    expect(scope.status).toBe(403);
    expect((await errorBody(scope)).code).toBe('forbidden');
    const readOnly = await fetch(`${t.url}/v1/kv/app/a`, { method: 'PUT', body: 'v', headers: as('reader') });
    expect(readOnly.status).toBe(403);
    const admin = await fetch(`${t.url}/admin/status`, { headers: as('writer') });
    expect(admin.status).toBe(403);
    expect(t.node.proposed).toHaveLength(0);
  });

  it('every route asks: the listing, history, rollback, watch and admin API', async () => {
    const checks: [string, RequestInit, number][] = [
      ['/v1/kv?prefix=app/', {}, 200],
      ['/v1/kv?prefix=', {}, 403],
      ['/v1/kv', {}, 403],
      ['/v1/history/app/a', {}, 200],
      ['/v1/history/other/a', {}, 403],
      ['/v1/rollback/app/a?toRevision=1', { method: 'POST' }, 403],
      ['/v1/watch?prefix=other/', {}, 403],
      ['/admin/members', {}, 403],
      ['/admin/snapshot', { method: 'POST' }, 403],
    ];
    for (const [path, init, status] of checks) {
      const r = await fetch(`${t.url}${path}`, { ...init, headers: as('reader') });
      expect(r.status, path).toBe(status);
      await r.arrayBuffer();
      const anonymous = await fetch(`${t.url}${path}`, init);
      expect(anonymous.status, `${path} without a token`).toBe(401);
      await anonymous.arrayBuffer();
    }
  });

  it('in scope works; the admin token works everywhere', async () => {
    expect((await fetch(`${t.url}/v1/kv/app/a`, { method: 'PUT', body: 'v1', headers: as('writer') })).status).toBe(201);
    const read = await fetch(`${t.url}/v1/kv/app/a`, { headers: as('reader') });
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('v1');
    expect((await fetch(`${t.url}/v1/kv/other/b`, { method: 'PUT', body: 'v', headers: as('admin-secret') })).status).toBe(201);
    expect((await fetch(`${t.url}/admin/status`, { headers: as('admin-secret') })).status).toBe(200);
  });

  it('/healthz, /readyz stay open', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${t.url}/healthz`, { headers: as('garbage') })).status).toBe(200);
  });

  it('audits every applied write and membership change: who, action, key or member, revision or index', async () => {
    await fetch(`${t.url}/v1/kv/app/a`, { method: 'PUT', body: 'value-one-secret', headers: as('writer') });
    await fetch(`${t.url}/v1/kv/app/a`, { method: 'PUT', body: 'value-two-secret', headers: { ...as('writer'), 'If-Match': '"1"' } });
    // A failed precondition and a refused write change nothing and are not audited.
    expect((await fetch(`${t.url}/v1/kv/app/a`, { method: 'PUT', body: 'v3', headers: { ...as('writer'), 'If-Match': '"1"' } })).status).toBe(412);
    expect((await fetch(`${t.url}/v1/kv/app/a`, { method: 'PUT', body: 'v3', headers: as('reader') })).status).toBe(403);
    await fetch(`${t.url}/v1/rollback/app/a?toRevision=1`, { method: 'POST', headers: as('admin-secret') });
    await fetch(`${t.url}/v1/kv/app/a`, { method: 'DELETE', headers: as('writer') });
    const member = { id: 'n2', peerURL: 'http://127.0.0.1:9', clientURL: 'http://127.0.0.1:10' };
    const add = await fetch(`${t.url}/admin/members`, { method: 'POST', body: JSON.stringify(member), headers: { ...as('admin-secret'), 'content-type': 'application/json' } });
    expect(add.status).toBe(200);
    t.node.members_.find((m) => m.id === 'n2')!.lag = 0;
    expect((await fetch(`${t.url}/admin/members/n2/promote`, { method: 'POST', headers: as('admin-secret') })).status).toBe(200);
    expect((await fetch(`${t.url}/admin/members/n2`, { method: 'DELETE', headers: as('admin-secret') })).status).toBe(200);

    const audit = t.logger.lines.filter((l) => l.message === 'audit').map((l) => l.meta);
    const writer = tokenFingerprint('writer');
    expect(audit).toEqual([
      expect.objectContaining({ who: writer, action: 'put', key: 'app/a', revision: 1 }),
      expect.objectContaining({ who: writer, action: 'put', key: 'app/a', revision: 2 }),
      expect.objectContaining({ who: 'admin', action: 'rollback', key: 'app/a', revision: 3, toRevision: 1 }),
      expect.objectContaining({ who: writer, action: 'delete', key: 'app/a', revision: 4 }),
      expect.objectContaining({ who: 'admin', action: 'member-add', member: 'n2', peerURL: member.peerURL, index: expect.any(Number) }),
      expect.objectContaining({ who: 'admin', action: 'member-promote', member: 'n2', index: expect.any(Number) }),
      expect.objectContaining({ who: 'admin', action: 'member-remove', member: 'n2', index: expect.any(Number) }),
    ]);
    for (const line of audit) expect(typeof line.requestId).toBe('string');
    const everything = JSON.stringify(t.logger.lines);
    for (const secret of ['admin-secret', '"writer"', 'Bearer', 'value-one-secret', 'value-two-secret']) expect(everything).not.toContain(secret);
  });
});

describe('the peer port checks the peer token', () => {
  let server: http.Server;
  let url: string;
  const stepped: unknown[] = [];
  beforeAll(async () => {
    const listener = createPeerRequestListener({
      handler: {
        step: (m) => {
          stepped.push(m);
          return null;
        },
        receiveSnapshotChunk: async () => null,
      },
      logger: silentLogger,
      peerToken: 'peer-secret',
    });
    server = http.createServer(listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('refuses a missing or wrong token with 401 and the JSON shape, before reading the frame', async () => {
    for (const authorization of [undefined, 'Bearer wrong', 'Bearer peer-secretx', 'Basic peer-secret', 'peer-secret']) {
      const before = counters.timingSafeEqual;
      const r = await fetch(`${url}/raft/append_entries`, {
        method: 'POST',
        body: 'not a frame',
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(r.status, String(authorization)).toBe(401);
      expect((await errorBody(r)).code).toBe('unauthorized');
      expect(counters.timingSafeEqual - before).toBe(1);
    }
    expect(stepped).toHaveLength(0);
  });

  it('lets the right token through to the frame decoder', async () => {
    const r = await fetch(`${url}/raft/vote`, { method: 'POST', body: 'not a frame', headers: { authorization: 'Bearer peer-secret' } });
    // Past auth: the garbage frame is now what is refused.
    expect(r.status).toBe(400);
    expect((await errorBody(r)).code).toBe('bad_frame');
  });
});
