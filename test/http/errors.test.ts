// The error contract: one mapping, the JSON shape on every 4xx/5xx (express's own 404 and router
// errors included), Retry-After where retrying is safe, no internals leaked, request ids, auth hook.
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BadRequestError,
  ChangeInProgressError,
  ConflictError,
  FatalError,
  NoLeaderError,
  NotCaughtUpError,
  NotLeaderError,
  NotReadyError,
  OutcomeUnknownError,
  QuotaExceededError,
  OverloadedError,
  ProposalDroppedError,
  UnknownMemberError,
} from '../../node/src/server/errors.js';
import {
  ForbiddenError,
  UnauthorizedError,
  toHttpError,
  type AccessNeed,
} from '../../node/src/server/http/index.js';
import {
  ApplyOrderError,
  CompactedError,
  FutureRevisionError,
  InvalidArgumentError,
  InvalidCommandError,
  InvalidKeyError,
} from '../../node/src/store/index.js';
import { errorBody, rawRequest, startServer, type TestServer } from './harness.js';

describe('toHttpError: the one mapping', () => {
  it.each([
    [new NotLeaderError('n2', null), 503, 'no_leader', true],
    [new NoLeaderError(3), 503, 'no_leader', true],
    [new NotReadyError(), 503, 'not_ready', true],
    [new OverloadedError(), 503, 'overloaded', true],
    [new ProposalDroppedError(), 503, 'leader_changed', true],
    [new OutcomeUnknownError(), 504, 'outcome_unknown', false],
    [new QuotaExceededError(1000, 900, 200), 507, 'quota_exceeded', false],
    [new ChangeInProgressError(), 409, 'change_in_progress', false],
    [new NotCaughtUpError('behind', 42), 409, 'not_caught_up', false],
    [new ConflictError('has state'), 409, 'conflict', false],
    [new UnknownMemberError('no n9'), 404, 'unknown_member', false],
    [new BadRequestError('nope', 'custom_code'), 400, 'custom_code', false],
    [new InvalidKeyError('nul', 'NUL'), 400, 'invalid_key', false],
    [new InvalidArgumentError('limit', 'bad'), 400, 'invalid_argument', false],
    [new InvalidCommandError('bad'), 400, 'invalid_command', false],
    [new CompactedError(2, 5), 410, 'compacted', false],
    [new FutureRevisionError(9, 5), 400, 'future_revision', false],
    [new UnauthorizedError(), 401, 'unauthorized', false],
    [new ForbiddenError(), 403, 'forbidden', false],
  ] as const)('%s -> %i %s', (err, status, code, retryAfter) => {
    const r = toHttpError(err);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    expect('Retry-After' in r.headers).toBe(retryAfter);
    expect(r.expected).toBe(true);
  });

  it('carries details: lag, compacted revision, leader, key reason', () => {
    expect(toHttpError(new NotCaughtUpError('behind', 42)).body.error.lag).toBe(42);
    expect(toHttpError(new CompactedError(2, 5)).body.error.compactedRevision).toBe(5);
    expect(toHttpError(new NotLeaderError('n2', 'http://x')).body.error.leaderId).toBe('n2');
    expect(toHttpError(new InvalidKeyError('too_long', 'long')).body.error.reason).toBe('too_long');
    expect(toHttpError(new NoLeaderError(3)).headers['Retry-After']).toBe('3');
    expect(toHttpError(new UnauthorizedError()).headers['WWW-Authenticate']).toMatch(/^Bearer/);
    expect(toHttpError(new QuotaExceededError(1000, 900, 200)).body.error).toMatchObject({ quotaBytes: 1000, liveBytes: 900 });
  });

  it('unknown and internal errors become a generic 500 that leaks nothing', () => {
    for (const err of [
      new Error('ENOENT /var/lib/conflux/secret-path'),
      new FatalError('fsync failed on /data/log/000012.ldb'),
      new ApplyOrderError(3, 5),
      'a string',
      null,
    ]) {
      const r = toHttpError(err);
      expect(r.status).toBe(500);
      expect(JSON.stringify(r.body)).not.toMatch(/secret-path|ldb|stack|at Object/);
      expect(r.expected).toBe(false);
    }
  });

  it('keeps the status of http-errors style errors (express, router) but not their internals', () => {
    const r = toHttpError(Object.assign(new Error('Failed to decode param'), { status: 400 }));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('bad_request');
  });
});

describe('over HTTP', () => {
  let t: TestServer;
  const needs: AccessNeed[] = [];
  beforeAll(async () => {
    t = await startServer({
      authorize: (req, need) => {
        needs.push(need);
        const auth = req.get('Authorization');
        if (auth === undefined) throw new UnauthorizedError();
        if (auth !== 'Bearer good-token') throw new ForbiddenError();
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => {
    t.node.reset();
    needs.length = 0;
  });
  const auth = { Authorization: 'Bearer good-token' };

  it('unknown routes are 404 with the JSON shape', async () => {
    for (const path of ['/', '/v2/kv/a', '/v1/kvx', '/admin/nothing', '/v1/watch/extra']) {
      const res = await fetch(`${t.url}${path}`, { headers: auth });
      expect(res.status).toBe(404);
      expect((await errorBody(res)).code).toBe('route_not_found');
    }
  });

  it.each([
    ['POST', '/v1/kv/a', 'GET, HEAD, PUT, DELETE'],
    ['PATCH', '/v1/kv/a', 'GET, HEAD, PUT, DELETE'],
    ['DELETE', '/v1/kv', 'GET, HEAD'],
    ['PUT', '/v1/watch', 'GET, HEAD'],
    ['GET', '/v1/rollback/a', 'POST'],
    ['PUT', '/admin/members', 'GET, HEAD, POST'],
    ['GET', '/admin/members/n2', 'DELETE'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['OPTIONS', '/v1/kv/a', 'GET, HEAD, PUT, DELETE'],
  ])('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await fetch(`${t.url}${path}`, { method, headers: auth });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    const err = await errorBody(res);
    expect(err.code).toBe('method_not_allowed');
  });

  it('a router decoding error is a JSON 400', async () => {
    const res = await rawRequest(t.url, { method: 'POST', path: '/admin/members/%ZZ/promote', headers: auth });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error.code).toBe('bad_request');
  });

  it('a handler that throws an unexpected error answers a generic 500, logs it, and the server lives on', async () => {
    t.node.beforePropose = () => {
      throw new Error('boom at /var/lib/conflux/secret');
    };
    const res = await fetch(`${t.url}/v1/kv/x`, { method: 'PUT', body: 'v', headers: auth });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret');
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal error' } });
    expect(t.logger.lines.some((l) => l.level === 'error' && String(l.meta.error).includes('boom'))).toBe(true);
    t.node.beforePropose = null;
    expect((await fetch(`${t.url}/v1/kv/x`, { method: 'PUT', body: 'v', headers: auth })).status).toBe(201);
  });

  it.each([
    [new OutcomeUnknownError(), 504, 'outcome_unknown', null],
    [new QuotaExceededError(1000, 900, 200), 507, 'quota_exceeded', null],
    [new ProposalDroppedError(), 503, 'leader_changed', '1'],
    [new OverloadedError(), 503, 'overloaded', '1'],
    [new NoLeaderError(2), 503, 'no_leader', '2'],
  ])('a write failing with %s answers %i %s', async (err, status, code, retryAfter) => {
    t.node.beforePropose = () => {
      throw err;
    };
    const res = await fetch(`${t.url}/v1/kv/x`, { method: 'PUT', body: 'v', headers: auth });
    expect(res.status).toBe(status);
    expect(res.headers.get('retry-after')).toBe(retryAfter);
    expect((await errorBody(res)).code).toBe(code);
  });

  it('request ids: honoured when sane, generated otherwise, returned and logged', async () => {
    const mine = await fetch(`${t.url}/v1/kv/x`, { headers: { ...auth, 'X-Request-Id': 'req-123' } });
    expect(mine.headers.get('x-request-id')).toBe('req-123');
    const generated = await fetch(`${t.url}/v1/kv/x`, { headers: auth });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await fetch(`${t.url}/v1/kv/x`, { headers: { ...auth, 'X-Request-Id': 'a b\u00e9'.repeat(2) } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const line = t.logger.lines.find((l) => l.meta.requestId === 'req-123');
    expect(line).toMatchObject({ message: 'http request', meta: { route: '/v1/kv/{key}', status: 404, method: 'GET' } });
    expect(typeof line?.meta.durationMs).toBe('number');
  });

  it('never logs token values, bodies or raw keys', async () => {
    await fetch(`${t.url}/v1/kv/tenant/secret-key-name`, {
      method: 'PUT',
      body: 'value-that-must-not-be-logged',
      headers: { Authorization: 'Bearer good-token' },
    });
    await fetch(`${t.url}/v1/kv/x`, { headers: { Authorization: 'Bearer bad-token-value' } });
    const all = JSON.stringify(t.logger.lines);
    expect(all).not.toContain('good-token');
    expect(all).not.toContain('bad-token-value');
    expect(all).not.toContain('value-that-must-not-be-logged');
    // The key is named only by the audit line of the applied write (issue 6: who, what key, which revision).
    const notAudit = JSON.stringify(t.logger.lines.filter((l) => l.message !== 'audit'));
    expect(notAudit).not.toContain('secret-key-name');
    expect(t.logger.lines.filter((l) => l.message === 'audit' && l.meta.key === 'tenant/secret-key-name')).toEqual([
      expect.objectContaining({ meta: expect.objectContaining({ action: 'put', revision: 1 }) }),
    ]);
  });

  it('auth hook: 401 without a token, 403 outside its scope, and it sees what each route needs', async () => {
    const none = await fetch(`${t.url}/v1/kv/a`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await errorBody(none)).code).toBe('unauthorized');
    const wrong = await fetch(`${t.url}/v1/kv/a`, { headers: { Authorization: 'Bearer other' } });
    expect(wrong.status).toBe(403);
    // Refused writes are never proposed.
    expect((await fetch(`${t.url}/v1/kv/a`, { method: 'PUT', body: 'v' })).status).toBe(401);
    expect(t.node.proposed).toHaveLength(0);

    needs.length = 0;
    await fetch(`${t.url}/v1/kv/a/b`, { headers: auth });
    await fetch(`${t.url}/v1/kv/a/b`, { method: 'PUT', body: 'v', headers: auth });
    await fetch(`${t.url}/v1/kv/a/b`, { method: 'DELETE', headers: auth });
    await fetch(`${t.url}/v1/kv?prefix=a/`, { headers: auth });
    await fetch(`${t.url}/v1/history/a/b`, { headers: auth });
    await fetch(`${t.url}/v1/rollback/a/b?toRevision=1`, { method: 'POST', headers: auth });
    await fetch(`${t.url}/admin/status`, { headers: auth });
    expect(needs).toEqual([
      { kind: 'read', key: 'a/b' },
      { kind: 'write', key: 'a/b' },
      { kind: 'write', key: 'a/b' },
      { kind: 'read', prefix: 'a/' },
      { kind: 'read', key: 'a/b' },
      { kind: 'write', key: 'a/b' },
      { kind: 'admin' },
    ]);
  });

  it('health endpoints stay open when auth is on', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });

  it.each([
    ['garbage', 'NOT HTTP AT ALL\r\n\r\n', 400, 'bad_request'],
    ['oversized headers', `GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    // Node would answer this one itself with a bare 400 (found by the fuzz test).
    ['an HTTP/1.1 request without Host', 'PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx', 400, 'missing_host'],
    ['an HTTP/1.1 GET without Host', 'GET /v1/kv/a HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'missing_host'],
  ])('answers %s that never reach express with the JSON shape too', async (_what, request, status, code) => {
    const socket = net.connect(Number(new URL(t.url).port), '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.write(request);
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(text).toContain('Content-Type: application/json');
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe(code);
    // The server lives on.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('does not advertise express', async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});

describe('Host header on the express-free key routes', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it.each(['GET', 'PUT'])('an HTTP/1.1 %s /v1/kv/{key} without Host gets the JSON 400 (found by the fuzz test)', async (method) => {
    const socket = net.connect(Number(new URL(t.url).port), '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.write(`${method} /v1/kv/a HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`);
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('missing_host');
    expect(t.node.proposed).toHaveLength(0);
  });
});
