// GET and PUT /v1/kv/{key} are served without express (hot-kv.ts). The two paths must be
// indistinguishable: the same requests against an app with the hot path and one without give the
// same status, headers (in order), body, log lines and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenAuthorizer } from '../../node/src/server/auth.js';
import { isPlainTarget } from '../../node/src/server/http/hot-kv.js';
import type { HttpMetrics } from '../../node/src/server/http/types.js';
import { rawRequest, rawSocket, startServer, type TestServer } from './harness.js';

interface Step {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Runs on each side's fake node before the request. */
  before?: (t: TestServer) => void;
}

class RecordingMetrics implements HttpMetrics {
  readonly observed: string[] = [];
  observeHttpRequest(route: string, method: string, code: number): void {
    this.observed.push(`${method} ${route} ${code}`);
  }
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: 'text/plain', body: this.observed.join('\n') };
  }
}

const VOLATILE = new Set(['date', 'x-request-id', 'keep-alive', 'connection']);

async function exchange(t: TestServer, s: Step): Promise<unknown> {
  s.before?.(t);
  const r = await rawRequest(t.url, { method: s.method, path: s.path, headers: s.headers ?? {}, body: s.body });
  // Node keeps response headers in the order they arrived.
  const headers = Object.entries(r.headers).map(([name, v]) => (VOLATILE.has(name) ? name : `${name}: ${String(v)}`));
  return { step: `${s.method} ${s.path}`, status: r.status, headers, body: r.body.toString('latin1') };
}

function normalizedLogs(t: TestServer): unknown[] {
  return t.logger.lines.map((l) => {
    const { requestId: _r, durationMs: _d, stack: _s, ...meta } = l.meta;
    return { level: l.level, message: l.message, meta };
  });
}

async function pair(options: Parameters<typeof startServer>[0] = {}): Promise<{ hot: TestServer; plain: TestServer; hotMetrics: RecordingMetrics; plainMetrics: RecordingMetrics }> {
  const hotMetrics = new RecordingMetrics();
  const plainMetrics = new RecordingMetrics();
  const hot = await startServer({ ...options, metrics: hotMetrics });
  const plain = await startServer({ ...options, metrics: plainMetrics, options: { ...options.options, hotPath: false } });
  return { hot, plain, hotMetrics, plainMetrics };
}

const value = 'x'.repeat(40);

const corpus: Step[] = [
  { method: 'PUT', path: '/v1/kv/acme/app.yaml', headers: { 'content-type': 'text/yaml' }, body: 'replicas: 3\n' },
  { method: 'PUT', path: '/v1/kv/acme/app.yaml', body: 'replicas: 4\n' },
  { method: 'PUT', path: '/v1/kv/acme/app.yaml', headers: { 'if-match': '"1"' }, body: 'stale' },
  { method: 'PUT', path: '/v1/kv/acme/app.yaml', headers: { 'if-match': '2' }, body: 'cas ok' },
  { method: 'PUT', path: '/v1/kv/acme/app.yaml', headers: { 'if-none-match': '*' }, body: 'exists' },
  { method: 'PUT', path: '/v1/kv/new', headers: { 'if-none-match': '*' }, body: 'created' },
  { method: 'PUT', path: '/v1/kv/new', headers: { 'if-none-match': 'W/"1"' }, body: 'x' },
  { method: 'PUT', path: '/v1/kv/new', headers: { 'if-match': 'W/"1"' }, body: 'x' },
  { method: 'PUT', path: '/v1/kv/ct', headers: { 'content-type': 'ä'.repeat(3) }, body: 'x' },
  { method: 'PUT', path: '/v1/kv/', body: 'empty key' },
  { method: 'PUT', path: '/v1/kv/a/../b', body: 'dots' },
  { method: 'PUT', path: '/v1/kv/a//b', body: 'empty segment' },
  { method: 'PUT', path: '/v1/kv/a%2Fb', body: 'encoded slash' },
  { method: 'PUT', path: '/v1/kv/%E0%A4%A', body: 'bad escape' },
  { method: 'PUT', path: '/v1/kv/%00', body: 'nul' },
  { method: 'PUT', path: '/v1/kv/big', body: 'y'.repeat(100) },
  { method: 'PUT', path: '/v1/kv/big', headers: { 'content-length': '64' }, body: 'y'.repeat(64) },
  { method: 'PUT', path: '/v1/kv/gz', headers: { 'content-encoding': 'gzip' }, body: 'x' },
  { method: 'PUT', path: '/v1/kv/bin', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 255, 1, 254]) },
  { method: 'PUT', path: '/v1/kv/v?consistency=serializable&x=1', body: value },
  { method: 'PUT', path: '/v1/kv/req-id', headers: { 'x-request-id': 'client-chosen-1' }, body: value },
  { method: 'PUT', path: '/v1/kv/req-id', headers: { 'x-request-id': 'bad id with spaces' }, body: value },
  { method: 'GET', path: '/v1/kv/acme/app.yaml' },
  { method: 'GET', path: '/v1/kv/bin' },
  { method: 'GET', path: '/v1/kv/a%2Fb' },
  { method: 'GET', path: '/v1/kv/a/b' },
  { method: 'GET', path: '/v1/kv/missing' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?consistency=serializable' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?consistency=linearizable' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?consistency=bogus' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?consistency=serializable&consistency=serializable' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?revision=1' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?revision=0' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?revision=01e3' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?revision=9999' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?revision' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml', headers: { 'if-none-match': '*' } },
  { method: 'GET', path: '/v1/kv/acme/app.yaml', headers: { 'if-none-match': '"3"' } },
  { method: 'GET', path: '/v1/kv/acme/app.yaml', headers: { 'if-modified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' } },
  { method: 'GET', path: '/v1/kv/%E0%A4%A' },
  { method: 'GET', path: '/v1/kv/' },
  { method: 'HEAD', path: '/v1/kv/acme/app.yaml' },
  { method: 'DELETE', path: '/v1/kv/new' },
  { method: 'POST', path: '/v1/kv/acme/app.yaml', body: 'x' },
  { method: 'GET', path: '/v1/kvx' },
  { method: 'GET', path: '/v1/kv' },
  // The driver refuses or fails.
  { method: 'PUT', path: '/v1/kv/fails', body: 'x', before: (t) => (t.node.beforePropose = () => Promise.reject(new Error('boom'))) },
  { method: 'GET', path: '/v1/kv/acme/app.yaml', before: (t) => (t.node.beforeRead = () => Promise.reject(new Error('read boom'))) },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?consistency=serializable' },
  // No leader known: 503 after the (short) wait.
  { method: 'PUT', path: '/v1/kv/no-leader', body: 'x', before: (t) => { t.node.beforePropose = null; t.node.beforeRead = null; t.node.becomeFollower(null, null); } },
  { method: 'GET', path: '/v1/kv/acme/app.yaml' },
  { method: 'GET', path: '/v1/kv/acme/app.yaml?consistency=serializable' },
  { method: 'PUT', path: '/v1/kv/forwarded-loop', headers: { 'conflux-forwarded-by': 'n9' }, body: 'x', before: (t) => t.node.becomeFollower('n2', 'http://127.0.0.1:1') },
];

describe('hot path (GET/PUT /v1/kv without express) answers like the express routes', () => {
  let hot: TestServer;
  let plain: TestServer;
  let hotMetrics: RecordingMetrics;
  let plainMetrics: RecordingMetrics;
  beforeAll(async () => {
    ({ hot, plain, hotMetrics, plainMetrics } = await pair({ options: { maxValueBytes: 64, leaderWaitMs: 50 } }));
  });
  afterAll(async () => {
    await hot.close();
    await plain.close();
  });

  it('serves the hot routes from the hot path', () => {
    expect(typeof (plain.client.app as unknown as { use?: unknown }).use).toBe('function');
    expect((hot.client.app as unknown as { use?: unknown }).use).toBeUndefined();
  });

  it('gives the same answers, logs and metrics for every request of the corpus', async () => {
    for (const step of corpus) {
      const a = await exchange(hot, step);
      const b = await exchange(plain, step);
      expect(a, `${step.method} ${step.path}`).toEqual(b);
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(normalizedLogs(hot)).toEqual(normalizedLogs(plain));
    expect(hotMetrics.observed).toEqual(plainMetrics.observed);
    expect(hotMetrics.observed.filter((l) => l.includes('/v1/kv/{key}')).length).toBeGreaterThan(40);
  });

  it('forwards to the leader the same way', async () => {
    const leader = await startServer();
    try {
      for (const t of [hot, plain]) t.node.becomeFollower('n2', leader.url);
      const steps: Step[] = [
        { method: 'PUT', path: '/v1/kv/fwd', headers: { 'x-request-id': 'fwd-1', 'content-type': 'text/plain' }, body: 'via follower' },
        { method: 'GET', path: '/v1/kv/fwd', headers: { 'x-request-id': 'fwd-2' } },
        { method: 'GET', path: '/v1/kv/nope' },
      ];
      for (const step of steps) {
        leader.node.reset();
        const a = await exchange(hot, step);
        leader.node.reset();
        const b = await exchange(plain, step);
        expect(a, `${step.method} ${step.path}`).toEqual(b);
      }
    } finally {
      for (const t of [hot, plain]) t.node.becomeLeader();
      await leader.close();
    }
  });
});

describe('hot path GETs answered once per loop turn', () => {
  it('answers pipelined GETs of one connection in order', async () => {
    const t = await startServer();
    try {
      for (const k of ['a', 'b', 'c']) {
        const r = await rawRequest(t.url, { method: 'PUT', path: `/v1/kv/pipe/${k}`, headers: { 'content-type': 'text/plain' }, body: `value ${k}` });
        expect(r.status).toBe(201);
      }
      const socket = await rawSocket(t.url);
      // Four requests in one segment: they are parsed in one turn and answered in order.
      socket.write(['a', 'b', 'c', 'a'].map((k) => `GET /v1/kv/pipe/${k}?consistency=serializable HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      const deadline = Date.now() + 5000;
      while (socket.received().split('HTTP/1.1 200').length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      socket.close();
      const bodies = [...socket.received().matchAll(/value ([abc])/g)].map((m) => m[1]);
      expect(bodies).toEqual(['a', 'b', 'c', 'a']);
    } finally {
      await t.close();
    }
  });
});

describe('hot path with token auth', () => {
  it('refuses and admits like the express routes', async () => {
    const authorize = tokenAuthorizer({ clientGrants: [{ token: 'reader', access: 'read', prefix: 'acme/' }, { token: 'writer', access: 'readwrite', prefix: 'acme/' }], adminToken: 'root' });
    const { hot, plain } = await pair({ authorize });
    try {
      expect((hot.client.app as unknown as { use?: unknown }).use).toBeUndefined();
      const steps: Step[] = [
        { method: 'PUT', path: '/v1/kv/acme/a', body: 'no token' },
        { method: 'PUT', path: '/v1/kv/acme/a', headers: { authorization: 'Bearer nope' }, body: 'bad token' },
        { method: 'PUT', path: '/v1/kv/acme/a', headers: { authorization: 'Bearer reader' }, body: 'read only' },
        { method: 'PUT', path: '/v1/kv/acme/a', headers: { authorization: 'bearer writer' }, body: 'ok' },
        { method: 'PUT', path: '/v1/kv/other/a', headers: { authorization: 'Bearer writer' }, body: 'out of scope' },
        { method: 'PUT', path: '/v1/kv/other/a', headers: { authorization: 'Bearer root' }, body: 'admin' },
        { method: 'GET', path: '/v1/kv/acme/a', headers: { authorization: 'Bearer reader' } },
        { method: 'GET', path: '/v1/kv/other/a', headers: { authorization: 'Bearer reader' } },
        { method: 'GET', path: '/v1/kv/other/a' },
      ];
      for (const step of steps) expect(await exchange(hot, step), `${step.method} ${step.path}`).toEqual(await exchange(plain, step));
      await new Promise((r) => setTimeout(r, 20));
      expect(normalizedLogs(hot)).toEqual(normalizedLogs(plain));
    } finally {
      await hot.close();
      await plain.close();
    }
  });

  it('leaves hooks that want express requests on the express routes', async () => {
    const t = await startServer({ authorize: (req) => void req.get('Authorization') });
    try {
      expect(typeof (t.client.app as unknown as { use?: unknown }).use).toBe('function');
    } finally {
      await t.close();
    }
  });
});

describe('isPlainTarget', () => {
  it('is false exactly where parseurl leaves its fast path', () => {
    expect(isPlainTarget('/v1/kv/a?b=c')).toBe(true);
    expect(isPlainTarget('/v1/kv/%20')).toBe(true);
    for (const c of ['\t', '\n', '\f', '\r', ' ', '#', '\u00a0', '\ufeff']) expect(isPlainTarget(`/v1/kv/a${c}b`)).toBe(false);
  });
});
