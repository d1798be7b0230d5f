// GET /v1/kv (listing and paging), GET /v1/history/{key}, POST /v1/rollback/{key}.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorBody, json, startServer, type TestServer } from './harness.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({ options: { listLimitMax: 50 } });
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => t.node.reset());

const putText = (key: string, value: string, contentType = 'text/plain') =>
  t.node.applyNow({ type: 'put', key, value: new TextEncoder().encode(value), contentType });

interface ListBody {
  revision: number;
  items: { key: string; value?: string; encoding?: string; modRevision: number; createRevision: number; version: number; contentType: string }[];
  more: boolean;
}

async function list(query: string): Promise<ListBody> {
  const res = await fetch(`${t.url}/v1/kv${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ListBody;
}

describe('GET /v1/kv', () => {
  it('lists {revision, items, more} with values, in UTF-8 byte order', async () => {
    // '\uffff' sorts before an astral character in UTF-8, after it in UTF-16 code units.
    for (const key of ['b', 'a/2', 'a/1', 'a/\u{1f680}', 'a/\uffff']) putText(key, `v-${key}`);
    const body = await list('?prefix=a/');
    expect(body.revision).toBe(5);
    expect(body.more).toBe(false);
    expect(body.items.map((i) => i.key)).toEqual(['a/1', 'a/2', 'a/\uffff', 'a/\u{1f680}']);
    expect(body.items[0]).toEqual({
      key: 'a/1',
      modRevision: 3,
      createRevision: 3,
      version: 1,
      contentType: 'text/plain',
      value: 'v-a/1',
    });
  });

  it('pages with limit and exclusive after, returning every key exactly once', async () => {
    const keys = Array.from({ length: 23 }, (_, i) => `cfg/${String(i).padStart(2, '0')}`);
    for (const k of [...keys].reverse()) putText(k, k);
    putText('zzz', 'outside');
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const q = `?prefix=cfg/&limit=5${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`;
      const page = await list(q);
      seen.push(...page.items.map((i) => i.key));
      if (!page.more) break;
      after = page.items[page.items.length - 1]?.key;
    }
    expect(seen).toEqual(keys);
  });

  it('caps limit at the configured maximum', async () => {
    for (let i = 0; i < 60; i++) putText(`k/${String(i).padStart(2, '0')}`, 'v');
    const body = await list('?limit=1000');
    expect(body.items).toHaveLength(50);
    expect(body.more).toBe(true);
    expect((await list('')).items).toHaveLength(50);
  });

  it('keysOnly=true omits values', async () => {
    putText('x', 'secret-ish');
    const body = await list('?keysOnly=true');
    expect(body.items).toHaveLength(1);
    expect(body.items[0]).not.toHaveProperty('value');
    expect(body.items[0]?.key).toBe('x');
  });

  it('returns binary values as base64 with "encoding": "base64", UTF-8 as strings', async () => {
    t.node.applyNow({ type: 'put', key: 'bin', value: new Uint8Array([0xff, 0xfe, 0x00]), contentType: 'application/octet-stream' });
    putText('txt', 'héllo\n');
    t.node.applyNow({ type: 'put', key: 'bom', value: new Uint8Array([0xef, 0xbb, 0xbf, 0x41]), contentType: 'text/plain' });
    const body = await list('');
    const byKey = Object.fromEntries(body.items.map((i) => [i.key, i]));
    expect(byKey.bin).toMatchObject({ value: Buffer.from([0xff, 0xfe, 0]).toString('base64'), encoding: 'base64' });
    expect(byKey.txt).toMatchObject({ value: 'héllo\n' });
    expect(byKey.txt).not.toHaveProperty('encoding');
    // A byte-order mark is part of the value and survives.
    expect(byKey.bom?.value).toBe('\ufeffA');
  });

  it('linearizable by default, serializable on request', async () => {
    await list('');
    expect(t.node.readBarriers).toBe(1);
    await list('?consistency=serializable');
    expect(t.node.readBarriers).toBe(1);
  });

  it.each([['?limit=0'], ['?limit=-5'], ['?limit=x'], ['?keysOnly=maybe'], ['?prefix=a&prefix=b'], ['?after=%00']])(
    'refuses %s with 400',
    async (q) => {
      const res = await fetch(`${t.url}/v1/kv${q}`);
      expect(res.status).toBe(400);
      expect((await errorBody(res)).code).toBe('invalid_argument');
    },
  );
});

describe('GET /v1/history/{key}', () => {
  it('lists retained versions newest first, deletes as deleted: true', async () => {
    putText('h', 'one', 'text/a'); // 1
    putText('h', 'two', 'text/b'); // 2
    t.node.applyNow({ type: 'delete', key: 'h' }); // 3
    t.node.applyNow({ type: 'put', key: 'h', value: new Uint8Array([0x80]), contentType: 'application/octet-stream' }); // 4
    const res = await fetch(`${t.url}/v1/history/h`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { key: string; revision: number; items: Record<string, unknown>[] };
    expect(body.key).toBe('h');
    expect(body.revision).toBe(4);
    expect(body.items).toEqual([
      { modRevision: 4, createRevision: 4, version: 1, contentType: 'application/octet-stream', deleted: false, value: 'gA==', encoding: 'base64' },
      { modRevision: 3, createRevision: 0, version: 0, contentType: '', deleted: true, value: '' },
      { modRevision: 2, createRevision: 1, version: 2, contentType: 'text/b', deleted: false, value: 'two' },
      { modRevision: 1, createRevision: 1, version: 1, contentType: 'text/a', deleted: false, value: 'one' },
    ]);
  });

  it('an unknown key has an empty history; an invalid key is 400', async () => {
    const res = await fetch(`${t.url}/v1/history/never`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: unknown[] }).items).toEqual([]);
    const bad = await fetch(`${t.url}/v1/history/a//b`);
    expect(bad.status).toBe(400);
    expect((await errorBody(bad)).code).toBe('invalid_key');
  });
});

describe('POST /v1/rollback/{key}?toRevision=N', () => {
  const rollback = (key: string, query: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/v1/rollback/${key}${query}`, { method: 'POST', headers });

  it('writes the value and content type of revision N as a new version', async () => {
    putText('r', 'good', 'text/good'); // 1
    putText('r', 'bad', 'text/bad'); // 2
    const res = await rollback('r', '?toRevision=1');
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"3"');
    expect(await json(res)).toEqual({ key: 'r', revision: 3, createRevision: 1, modRevision: 3, version: 3, toRevision: 1 });
    const now = await fetch(`${t.url}/v1/kv/r`);
    expect(await now.text()).toBe('good');
    expect(now.headers.get('content-type')).toBe('text/good');
  });

  it('re-creates a deleted key with 201', async () => {
    putText('r', 'v'); // 1
    t.node.applyNow({ type: 'delete', key: 'r' }); // 2
    const res = await rollback('r', '?toRevision=1');
    expect(res.status).toBe(201);
    expect((await json(res)).version).toBe(1);
  });

  it('honours If-Match', async () => {
    putText('r', 'a'); // 1
    putText('r', 'b'); // 2
    expect((await rollback('r', '?toRevision=1', { 'If-Match': '"1"' })).status).toBe(412);
    expect((await rollback('r', '?toRevision=1', { 'If-Match': '"2"' })).status).toBe(200);
  });

  it('answers 404 when the key did not exist at N, 400 for a future or missing N, 410 when compacted', async () => {
    putText('other', 'x'); // 1
    putText('r', 'a'); // 2
    putText('r', 'b'); // 3
    const absent = await rollback('r', '?toRevision=1');
    expect(absent.status).toBe(404);
    expect((await errorBody(absent)).code).toBe('not_found');
    const future = await rollback('r', '?toRevision=50');
    expect(future.status).toBe(400);
    expect((await errorBody(future)).code).toBe('future_revision');
    const missing = await rollback('r', '');
    expect(missing.status).toBe(400);
    expect((await errorBody(missing)).code).toBe('invalid_argument');
    t.node.applyNow({ type: 'compact', revision: 3 });
    const gone = await rollback('r', '?toRevision=2');
    expect(gone.status).toBe(410);
    expect((await errorBody(gone)).code).toBe('compacted');
  });
});
