// GET /v1/watch: replay, live events, Last-Event-ID, compaction, heartbeats, limits, slow
// watchers and cleanup.
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorBody, rawSocket, startServer, type TestServer } from './harness.js';
import { SseReader } from './sse.js';

let t: TestServer;

beforeAll(async () => {
  t = await startServer({ options: { watch: { heartbeatMs: 60_000, maxWatchers: 3, maxLagEvents: 5, stallCheckMs: 20 } } });
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => t.node.reset());

const put = (key: string, value: string) =>
  t.node.applyNow({ type: 'put', key, value: new TextEncoder().encode(value), contentType: 'text/plain' });

async function watch(query: string, headers: Record<string, string> = {}, controller = new AbortController()) {
  const res = await fetch(`${t.url}/v1/watch${query}`, { headers, signal: controller.signal });
  return { res, sse: new SseReader(res), controller };
}

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('GET /v1/watch', () => {
  it('replays from fromRevision (inclusive), then streams live events, in order, each once', async () => {
    put('app/a', '1'); // 1
    put('app/b', '2'); // 2
    put('app/a', '3'); // 3
    const { res, sse, controller } = await watch('?prefix=app/&fromRevision=2');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const e2 = await sse.nextEvent();
    expect(e2).toEqual({
      id: '2',
      event: 'put',
      data: JSON.stringify({ key: 'app/b', modRevision: 2, createRevision: 2, version: 1, contentType: 'text/plain', value: '2' }),
    });
    expect((await sse.nextEvent())?.id).toBe('3');
    put('other/x', 'ignored'); // 4: outside the prefix
    t.node.applyNow({ type: 'delete', key: 'app/b' }); // 5
    const del = await sse.nextEvent();
    expect(del?.id).toBe('5');
    expect(del?.event).toBe('delete');
    expect(JSON.parse(del?.data ?? '')).toEqual({ key: 'app/b', modRevision: 5, createRevision: 0, version: 0, contentType: '', value: '' });
    t.node.applyNow({ type: 'put', key: 'app/bin', value: new Uint8Array([0xff]), contentType: 'x/y' }); // 6
    const bin = JSON.parse((await sse.nextEvent())?.data ?? '');
    expect(bin).toMatchObject({ value: '/w==', encoding: 'base64' });
    controller.abort();
  });

  it('without fromRevision, only changes after the current revision', async () => {
    put('a', '1');
    const { sse, controller } = await watch('');
    put('a', '2');
    expect((await sse.nextEvent())?.id).toBe('2');
    controller.abort();
  });

  it('Last-Event-ID resumes after R and takes precedence over fromRevision', async () => {
    for (let i = 1; i <= 5; i++) put('k', String(i));
    const { sse, controller } = await watch('?fromRevision=1', { 'Last-Event-ID': '3' });
    expect((await sse.nextEvent())?.id).toBe('4');
    expect((await sse.nextEvent())?.id).toBe('5');
    controller.abort();
    // An empty Last-Event-ID (an EventSource that saw no id yet) falls back to fromRevision.
    const again = await watch('?fromRevision=2', { 'Last-Event-ID': '' });
    expect((await again.sse.nextEvent())?.id).toBe('2');
    again.controller.abort();
  });

  it('sends one compacted event with the oldest available revision, then closes', async () => {
    for (let i = 1; i <= 6; i++) put('k', String(i));
    t.node.applyNow({ type: 'compact', revision: 4 });
    const { res, sse } = await watch('?fromRevision=2');
    expect(res.status).toBe(200);
    const e = await sse.nextEvent();
    expect(e?.event).toBe('compacted');
    expect(JSON.parse(e?.data ?? '').oldestRevision).toBe(4);
    expect(await sse.nextEvent()).toBeNull();
    // Resuming at the oldest revision works.
    const ok = await watch('?fromRevision=4');
    expect((await ok.sse.nextEvent())?.id).toBe('4');
    ok.controller.abort();
  });

  it('an idle watcher is not cut off by compaction of unrelated history', async () => {
    const { sse, controller } = await watch('?prefix=never/');
    for (let i = 1; i <= 4; i++) put('k', String(i));
    t.node.applyNow({ type: 'compact', revision: 3 });
    put('never/x', 'y'); // 5: compaction creates no revision
    expect((await sse.nextEvent())?.id).toBe('5');
    controller.abort();
  });

  it('sends heartbeat comments', async () => {
    const fast = await startServer({ options: { watch: { heartbeatMs: 30 } } });
    try {
      const res = await fetch(`${fast.url}/v1/watch`);
      const sse = new SseReader(res);
      const first = await sse.next(2000);
      expect(first?.event).toBe(':');
      expect(first?.data).toContain('heartbeat');
      expect((await sse.next(2000))?.event).toBe(':');
      await sse.cancel();
    } finally {
      await fast.close();
    }
  });

  it('cleans up the watcher when the client disconnects', async () => {
    const { sse, controller } = await watch('?prefix=a');
    put('a', '1');
    await sse.nextEvent();
    expect(t.client.watchStreams()).toBe(1);
    expect(t.node.watches.activeCount()).toBe(1);
    controller.abort();
    await until(() => t.client.watchStreams() === 0 && t.node.watches.activeCount() === 0);
  });

  it('refuses watchers beyond the per-node limit with 429 and Retry-After', async () => {
    const open = [await watch(''), await watch(''), await watch('')];
    await until(() => t.client.watchStreams() === 3);
    const res = await fetch(`${t.url}/v1/watch`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await errorBody(res)).code).toBe('too_many_watchers');
    for (const w of open) w.controller.abort();
    await until(() => t.client.watchStreams() === 0);
    const again = await watch('');
    expect(again.res.status).toBe(200);
    again.controller.abort();
  });

  it.each([
    ['?fromRevision=0', {}],
    ['?fromRevision=abc', {}],
    ['?prefix=a%00', {}],
    ['', { 'Last-Event-ID': 'seven' }],
    ['', { 'Last-Event-ID': '-1' }],
  ])('refuses %s %j with a JSON 400', async (query, headers) => {
    const res = await fetch(`${t.url}/v1/watch${query}`, { headers });
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_argument');
    expect(t.node.watches.activeCount()).toBe(0);
  });

  it('cuts off a watcher that stops reading with an error event, and frees it', async () => {
    // A client that sends the request and never reads: the socket backs up, the hub counts the
    // lag, and past maxLagEvents (5) the stream ends with `event: error`.
    const port = Number(new URL(t.url).port);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('GET /v1/watch?prefix=big/ HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    await until(() => t.client.watchStreams() === 1);
    const value = new Uint8Array(256 * 1024).fill(0x61);
    for (let i = 0; i < 200 && t.client.watchStreams() === 1; i++) {
      t.node.applyNow({ type: 'put', key: `big/${i}`, value, contentType: 'text/plain' });
      await new Promise((r) => setImmediate(r));
    }
    await until(() => t.client.watchStreams() === 0 && t.node.watches.activeCount() === 0, 5000);
    // Now read everything that was sent: the response ends (last chunk) with the error event.
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (text += c));
    socket.resume();
    await until(() => text.endsWith('\r\n0\r\n\r\n'), 5000);
    socket.destroy();
    expect(text).toMatch(/event: error\ndata: \{"code":"slow_watcher"[^\n]*\n\n\r\n0\r\n\r\n$/);
  });

  it('closing the app ends open streams with an error event', async () => {
    const other = await startServer();
    const res = await fetch(`${other.url}/v1/watch`);
    const sse = new SseReader(res);
    await until(() => other.client.watchStreams() === 1);
    other.client.close();
    const e = await sse.nextEvent();
    expect(e?.event).toBe('error');
    expect(JSON.parse(e?.data ?? '').code).toBe('shutting_down');
    expect(await sse.nextEvent()).toBeNull();
    await other.close();
  });
});

describe('GET /v1/watch on the wire', () => {
  /** The raw bytes a watch stream carries over one socket, after `events` puts. */
  async function rawStream(version: '1.0' | '1.1', events: number): Promise<string> {
    const socket = await rawSocket(t.url);
    socket.write(`GET /v1/watch?prefix=wire/ HTTP/${version}\r\nHost: x\r\n\r\n`);
    await until(() => socket.received().includes('\r\n\r\n'));
    for (let i = 0; i < events; i++) put(`wire/k${i}`, `v${i}`);
    await until(() => (socket.received().match(/event: put/g) ?? []).length === events);
    socket.close();
    await until(() => t.client.watchStreams() === 0 && t.node.watches.activeCount() === 0);
    return socket.received();
  }

  it('HTTP/1.1: every event is one well-formed chunk', async () => {
    const raw = await rawStream('1.1', 3);
    const [head, body] = [raw.slice(0, raw.indexOf('\r\n\r\n')), raw.slice(raw.indexOf('\r\n\r\n') + 4)];
    expect(head).toMatch(/transfer-encoding: chunked/i);
    // Walk the chunks: each size line must match the bytes that follow it.
    let rest = body;
    const chunks: string[] = [];
    while (rest.length > 0) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol), 16);
      expect(Number.isNaN(size)).toBe(false);
      chunks.push(rest.slice(eol + 2, eol + 2 + size));
      expect(rest.slice(eol + 2 + size, eol + 4 + size)).toBe('\r\n');
      rest = rest.slice(eol + 4 + size);
    }
    const events = chunks.filter((c) => c.startsWith('id: '));
    expect(events.map((c) => c.split('\n')[0])).toEqual(['id: 1', 'id: 2', 'id: 3']);
    for (const c of events) expect(c.endsWith('\n\n')).toBe(true);
  });

  it('HTTP/1.0 (no chunked coding): the events as plain text', async () => {
    const raw = await rawStream('1.0', 2);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    expect(raw.slice(0, raw.indexOf('\r\n\r\n'))).not.toMatch(/transfer-encoding/i);
    expect(body.startsWith('id: 1\nevent: put\ndata: ')).toBe(true);
    expect(body).toContain('\n\nid: 2\nevent: put\ndata: ');
    expect(body).not.toContain('\r\n');
  });
});

describe('HEAD /v1/watch', () => {
  it('answers the headers of a stream, no body, and holds no watcher', async () => {
    const socket = await rawSocket(t.url);
    socket.write('HEAD /v1/watch?prefix=head/ HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => socket.received().includes('\r\n\r\n'));
    const received = socket.received();
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toMatch(/content-type: text\/event-stream/i);
    put('head/a', '1');
    await new Promise((r) => setTimeout(r, 100));
    // Nothing after the headers: no event bytes, no chunk.
    const all = socket.received();
    expect(all.slice(all.indexOf('\r\n\r\n') + 4)).toBe('');
    expect(t.client.watchStreams()).toBe(0);
    expect(t.node.watches.activeCount()).toBe(0);
    socket.close();
  });
});
