// GET/PUT/DELETE /v1/kv/{key}: the design's client API table and "details that clients rely on".
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorBody, json, rawRequest, startServer, type TestServer } from './harness.js';

let t: TestServer;
const put = (key: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/kv/${key}`, { method: 'PUT', body, headers });
const get = (key: string, query = '') => fetch(`${t.url}/v1/kv/${key}${query}`);
const del = (key: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/kv/${key}`, { method: 'DELETE', headers });

beforeAll(async () => {
  t = await startServer();
});
afterAll(async () => {
  await t.close();
});
// A fresh store per test: revisions in assertions start at 1.
beforeEach(() => t.node.reset());

describe('PUT /v1/kv/{key}', () => {
  it('creates with 201, the write result and the new ETag', async () => {
    const res = await put('acme/checkout/prod/database.yaml', 'host: db\n', { 'Content-Type': 'application/yaml' });
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.headers.get('conflux-revision')).toBe('1');
    expect(await json(res)).toEqual({
      key: 'acme/checkout/prod/database.yaml',
      revision: 1,
      createRevision: 1,
      modRevision: 1,
      version: 1,
    });
  });

  it('updates with 200, version + 1 and createRevision kept', async () => {
    await put('a', 'one');
    await put('b', 'other');
    const res = await put('a', 'two');
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"3"');
    expect(await json(res)).toEqual({ key: 'a', revision: 3, createRevision: 1, modRevision: 3, version: 2 });
  });

  it('compare-and-set with If-Match: applies on the current ETag, 412 with the current one otherwise', async () => {
    await put('k', 'v1');
    const ok = await put('k', 'v2', { 'If-Match': '"1"' });
    expect(ok.status).toBe(200);
    const stale = await put('k', 'v3', { 'If-Match': '"1"' });
    expect(stale.status).toBe(412);
    const err = await errorBody(stale);
    expect(err.code).toBe('precondition_failed');
    expect(err.modRevision).toBe(2);
    expect(await (await get('k')).text()).toBe('v2');
    // If-Match on a key that does not exist fails too (it cannot match).
    const absent = await put('nope', 'x', { 'If-Match': '"1"' });
    expect(absent.status).toBe(412);
    expect((await errorBody(absent)).modRevision).toBeNull();
  });

  it('If-None-Match: * creates only', async () => {
    expect((await put('once', 'a', { 'If-None-Match': '*' })).status).toBe(201);
    const again = await put('once', 'b', { 'If-None-Match': '*' });
    expect(again.status).toBe(412);
    expect((await errorBody(again)).code).toBe('precondition_failed');
    expect(await (await get('once')).text()).toBe('a');
  });

  it.each([['W/"1"'], ['"1", "2"'], ['*'], ['"abc"'], ['"0"'], ['"-1"'], ['"99999999999999999"']])(
    'refuses If-Match %s with 400 (nothing proposed)',
    async (value) => {
      const res = await put('k', 'v', { 'If-Match': value });
      expect(res.status).toBe(400);
      expect((await errorBody(res)).code).toBe('invalid_if_match');
      expect(t.node.proposed).not.toContainEqual(expect.objectContaining({ key: 'k', value: expect.anything() }));
    },
  );

  it('refuses If-None-Match other than *', async () => {
    const res = await put('k', 'v', { 'If-None-Match': '"3"' });
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_if_none_match');
  });

  it('stores Content-Type as sent, application/octet-stream by default', async () => {
    await put('typed', '{"a":1}', { 'Content-Type': 'application/json; charset=utf-8' });
    await rawRequest(t.url, { method: 'PUT', path: '/v1/kv/untyped', body: 'raw' });
    expect((await get('typed')).headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect((await get('untyped')).headers.get('content-type')).toBe('application/octet-stream');
  });

  it('refuses a content type the store cannot keep', async () => {
    const res = await put('k', 'v', { 'Content-Type': `text/${'x'.repeat(300)}` });
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_content_type');
  });

  it('refuses a compressed body instead of storing the compressed bytes', async () => {
    const res = await put('k', 'v', { 'Content-Encoding': 'gzip' });
    expect(res.status).toBe(415);
    expect((await errorBody(res)).code).toBe('unsupported_encoding');
  });

  it('stores binary values byte for byte, empty values included', async () => {
    const bytes = Buffer.from([0, 255, 128, 10, 13, 0xc3]);
    await put('bin', bytes);
    expect(Buffer.from(await (await get('bin')).arrayBuffer())).toEqual(bytes);
    expect((await put('empty', '')).status).toBe(201);
    const empty = await get('empty');
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe('');
  });
});

describe('value size limit (inclusive)', () => {
  it('accepts a value of exactly the default 1 MiB and refuses one byte more with 413', async () => {
    const limit = 1024 * 1024;
    const ok = await put('big', Buffer.alloc(limit, 7));
    expect(ok.status).toBe(201);
    expect((await (await get('big')).arrayBuffer()).byteLength).toBe(limit);
    const tooBig = await put('big2', Buffer.alloc(limit + 1, 7));
    expect(tooBig.status).toBe(413);
    const err = await errorBody(tooBig);
    expect(err.code).toBe('too_large');
    expect(err.limitBytes).toBe(limit);
    expect((await get('big2')).status).toBe(404);
  });

  it('refuses an oversized chunked body (no Content-Length) while streaming', async () => {
    const small = await startServer({ options: { maxValueBytes: 100 } });
    try {
      const exact = await rawRequest(small.url, {
        method: 'PUT',
        path: '/v1/kv/x',
        headers: { 'Transfer-Encoding': 'chunked' },
        body: Buffer.alloc(100),
      });
      expect(exact.status).toBe(201);
      const res = await rawRequest(small.url, {
        method: 'PUT',
        path: '/v1/kv/y',
        headers: { 'Transfer-Encoding': 'chunked' },
        body: Buffer.alloc(101),
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body.toString()).error.code).toBe('too_large');
      expect(small.node.store.get('y')).toBeNull();
    } finally {
      await small.close();
    }
  });
});

describe('GET /v1/kv/{key}', () => {
  it('returns the raw value with ETag, Conflux-Revision, Conflux-Create-Revision, Conflux-Version', async () => {
    await put('k', 'v1', { 'Content-Type': 'text/plain' });
    await put('other', 'x');
    await put('k', 'v2', { 'Content-Type': 'text/plain' });
    const res = await get('k');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('v2');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('etag')).toBe('"3"');
    expect(res.headers.get('conflux-revision')).toBe('3');
    expect(res.headers.get('conflux-create-revision')).toBe('1');
    expect(res.headers.get('conflux-version')).toBe('2');
  });

  it('404 with the JSON shape for an absent key', async () => {
    const res = await get('missing');
    expect(res.status).toBe(404);
    const err = await errorBody(res);
    expect(err.code).toBe('not_found');
    expect(err.key).toBe('missing');
  });

  it('HEAD answers the headers without a body', async () => {
    await put('h', 'hello');
    const res = await fetch(`${t.url}/v1/kv/h`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.headers.get('content-length')).toBe('5');
    expect(await res.text()).toBe('');
  });

  it('is linearizable by default (a read barrier per read), serializable on request', async () => {
    await put('k', 'v');
    const before = t.node.readBarriers;
    expect((await get('k')).status).toBe(200);
    expect(t.node.readBarriers).toBe(before + 1);
    expect((await get('k', '?consistency=serializable')).status).toBe(200);
    expect(t.node.readBarriers).toBe(before + 1);
    const bad = await get('k', '?consistency=eventual');
    expect(bad.status).toBe(400);
    expect((await errorBody(bad)).code).toBe('invalid_argument');
  });

  it('reads as of ?revision=N; at the delete revision it is 404; compacted revisions are 410', async () => {
    await put('k', 'one'); // 1
    await put('k', 'two'); // 2
    await del('k'); // 3
    await put('k', 'again'); // 4
    expect(await (await get('k', '?revision=1')).text()).toBe('one');
    const at2 = await get('k', '?revision=2');
    expect(await at2.text()).toBe('two');
    expect(at2.headers.get('etag')).toBe('"2"');
    expect((await get('k', '?revision=3')).status).toBe(404);
    // Re-created after a delete: version 1 again, a new createRevision.
    const now = await get('k');
    expect(now.headers.get('conflux-version')).toBe('1');
    expect(now.headers.get('conflux-create-revision')).toBe('4');
    const future = await get('k', '?revision=99');
    expect(future.status).toBe(400);
    expect((await errorBody(future)).code).toBe('future_revision');
    t.node.applyNow({ type: 'compact', revision: 3 });
    const gone = await get('k', '?revision=2');
    expect(gone.status).toBe(410);
    const err = await errorBody(gone);
    expect(err.code).toBe('compacted');
    expect(err.compactedRevision).toBe(3);
  });

  it.each([['0'], ['-1'], ['abc'], ['1.5'], ['1e3'], ['9007199254740993'], ['']])('refuses ?revision=%s with 400', async (v) => {
    const res = await get('k', `?revision=${v}`);
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_argument');
  });

  it('refuses a repeated query parameter', async () => {
    const res = await get('k', '?revision=1&revision=2');
    expect(res.status).toBe(400);
  });
});

describe('DELETE /v1/kv/{key}', () => {
  it('200 {key, revision}; then 404; If-Match guards it', async () => {
    await put('d', 'v');
    const wrong = await del('d', { 'If-Match': '"7"' });
    expect(wrong.status).toBe(412);
    const res = await del('d', { 'If-Match': '"1"' });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ key: 'd', revision: 2 });
    expect((await get('d')).status).toBe(404);
    const again = await del('d');
    expect(again.status).toBe(404);
    expect((await errorBody(again)).code).toBe('not_found');
  });
});

describe('keys', () => {
  it('accepts a 1024-byte key and refuses 1025 bytes with 400 invalid_key', async () => {
    const key = 'k'.repeat(1024);
    expect((await put(key, 'v')).status).toBe(201);
    expect(await (await get(key)).text()).toBe('v');
    const res = await put('k'.repeat(1025), 'v');
    expect(res.status).toBe(400);
    const err = await errorBody(res);
    expect(err.code).toBe('invalid_key');
    expect(err.reason).toBe('too_long');
  });

  it('counts UTF-8 bytes: 341 three-byte characters + 1 byte = 1024 is accepted', async () => {
    const key = `${'€'.repeat(341)}x`;
    expect((await put(encodeURIComponent(key), 'v')).status).toBe(201);
    expect(t.node.store.get(key)).not.toBeNull();
    const tooLong = `${'€'.repeat(341)}xy`;
    expect((await put(encodeURIComponent(tooLong), 'v')).status).toBe(400);
  });

  it.each([
    ['a//b', 'empty_segment'],
    ['a/', 'empty_segment'],
    ['%2Fa', 'empty_segment'],
    ['a%00b', 'nul'],
    ['%ZZ', 'invalid_utf8'],
    ['%ED%A0%80', 'invalid_utf8'],
  ])('refuses the key %s (%s)', async (path, reason) => {
    const res = await rawRequest(t.url, { method: 'PUT', path: `/v1/kv/${path}`, body: 'v' });
    expect(res.status).toBe(400);
    const body = JSON.parse(res.body.toString());
    expect(body.error.code).toBe('invalid_key');
    expect(body.error.reason).toBe(reason);
  });

  it('refuses dot segments, which raw clients can send', async () => {
    for (const path of ['a/./b', 'a/../b', '.', '..']) {
      const res = await rawRequest(t.url, { method: 'GET', path: `/v1/kv/${path}` });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body.toString()).error.reason).toBe('dot_segment');
    }
  });

  it('refuses the empty key /v1/kv/ (it is not the listing)', async () => {
    const res = await put('', 'v');
    expect(res.status).toBe(400);
    expect((await errorBody(res)).reason).toBe('empty');
  });

  it('percent-decodes the path once: a%2Fb names the key a/b, unicode round-trips', async () => {
    await put('a%2Fb', 'slash');
    expect(await (await get('a/b')).text()).toBe('slash');
    const key = 'tenant/ünïcødé/🚀.json';
    await put(key.split('/').map(encodeURIComponent).join('/'), 'u');
    expect(t.node.store.get(key)?.version).toBe(1);
    // %25 is a literal percent sign in the key.
    await put('p%2541', 'pct');
    expect(t.node.store.get('p%41')).not.toBeNull();
  });
});
