// The chaos test's own machinery, on hand-made inputs: the watch validator, the narrowing of
// indeterminate writes, the write-order check, the fault proxy and the workload's classification
// of answers. Each must be able to say no.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxies } from './proxy.js';
import { resolveIndeterminate, type Change } from './resolve.js';
import { validateWatch, type FinalHistory, type WatchRecord } from './watchers.js';
import { Workload, type ClientOp } from './workload.js';
import { checkWriteOrder } from './write-order.js';

// ------------------------------------------------------------------------------ watch validator

function finalOf(changes: [number, string, string | null][], compactedRevision = 0): FinalHistory {
  const byRevision = new Map<number, { key: string; deleted: boolean; value: string }>();
  for (const [r, key, value] of changes) byRevision.set(r, { key, deleted: value === null, value: value ?? '' });
  return { byRevision, compactedRevision, revision: Math.max(0, ...changes.map((c) => c[0])) };
}
const ev = (revision: number, key: string, value: string | null, node = 'n1'): WatchRecord => ({
  kind: 'event',
  revision,
  type: value === null ? 'delete' : 'put',
  key,
  value: value ?? '',
  node,
  atMs: revision,
});
const connect = (node: string, lastEventId: number): WatchRecord => ({ kind: 'connect', node, lastEventId, atMs: 0, status: 200 });

describe('validateWatch', () => {
  const final = finalOf([
    [1, 'a', 'v1'],
    [2, 'b', 'v2'],
    [3, 'a', null],
    [4, 'a', 'v4'],
  ]);

  it('accepts every revision once, in order, across a resume on another node', () => {
    const v = validateWatch('w', [connect('n1', 0), ev(1, 'a', 'v1'), ev(2, 'b', 'v2'), connect('n2', 2), ev(3, 'a', null, 'n2'), ev(4, 'a', 'v4', 'n2')], final);
    expect(v.problems).toEqual([]);
    expect(v).toMatchObject({ events: 4, reconnects: 1 });
  });

  it.each([
    ['a duplicate', [ev(1, 'a', 'v1'), ev(2, 'b', 'v2'), ev(2, 'b', 'v2'), ev(3, 'a', null), ev(4, 'a', 'v4')], /duplicate/],
    ['an event out of order', [ev(1, 'a', 'v1'), ev(3, 'a', null), ev(2, 'b', 'v2'), ev(4, 'a', 'v4')], /out of order/],
    ['a silent gap', [ev(1, 'a', 'v1'), ev(3, 'a', null), ev(4, 'a', 'v4')], /silent gap: revision 2/],
    ['a wrong value', [ev(1, 'a', 'v1'), ev(2, 'b', 'other'), ev(3, 'a', null), ev(4, 'a', 'v4')], /watch saw put b="other"/],
    ['a put where the store deleted', [ev(1, 'a', 'v1'), ev(2, 'b', 'v2'), ev(3, 'a', 'v1'), ev(4, 'a', 'v4')], /the store has delete/],
    ['a revision the store never had', [ev(1, 'a', 'v1'), ev(2, 'b', 'v2'), ev(3, 'a', null), ev(4, 'a', 'v4'), ev(5, 'a', 'v5')], /not in the store's history/],
    ['a stream that stops early', [ev(1, 'a', 'v1'), ev(2, 'b', 'v2')], /stopped at 2; revision 3/],
  ])('refuses %s', (_what, records, message) => {
    const v = validateWatch('w', records, final);
    expect(v.problems.join('\n')).toMatch(message);
  });

  it('accepts a gap announced by a compacted event, and a gap below the store\'s compaction point', () => {
    const compacted: WatchRecord = { kind: 'compacted', oldestRevision: 4, after: 1, node: 'n1', atMs: 0 };
    expect(validateWatch('w', [ev(1, 'a', 'v1'), compacted, ev(4, 'a', 'v4')], final).problems).toEqual([]);
    const finalCompacted = finalOf([[4, 'a', 'v4']], 3);
    expect(validateWatch('w', [ev(4, 'a', 'v4')], finalCompacted).problems).toEqual([]);
  });

  it('refuses a compacted event that announces nothing missing', () => {
    const compacted: WatchRecord = { kind: 'compacted', oldestRevision: 2, after: 1, node: 'n1', atMs: 0 };
    expect(validateWatch('w', [ev(1, 'a', 'v1'), compacted, ev(2, 'b', 'v2'), ev(3, 'a', null), ev(4, 'a', 'v4')], final).problems.join()).toMatch(/nothing was missing/);
  });
});

// ------------------------------------------------------------------------ history-based checks

let nextId = 0;
function op(o: Partial<ClientOp> & Pick<ClientOp, 'kind' | 'key' | 'invokeMs'>): ClientOp {
  const input = o.input ?? (o.kind === 'read' ? { type: 'read' as const } : { type: 'write' as const, value: o.value ?? null });
  return { id: nextId++, client: 0, node: 'n1', output: undefined, completeMs: undefined, result: 'ok', status: 200, ...o, input };
}
const known = (changes: [number, string, string | null][]): Map<number, Change> =>
  new Map(changes.map(([r, key, value]) => [r, { key, deleted: value === null, value: value ?? '' }]));

describe('resolveIndeterminate', () => {
  it('drops writes that never reached a complete history, completes applied ones at the first later observation', () => {
    const lost = op({ kind: 'write', key: 'a', value: 'lost', invokeMs: 0, result: 'indeterminate', status: 504 });
    const applied = op({ kind: 'write', key: 'a', value: 'late', invokeMs: 10, result: 'indeterminate', status: 'client timeout' });
    const later = op({ kind: 'write', key: 'b', value: 'b1', invokeMs: 20, completeMs: 50, output: { type: 'write' }, revision: 2 });
    const read = op({ kind: 'read', key: 'a', invokeMs: 30, completeMs: 40, output: { type: 'read', value: 'late' } });
    const k = known([
      [1, 'a', 'late'],
      [2, 'b', 'b1'],
    ]);
    const r = resolveIndeterminate([lost, applied, later, read], k, true);
    expect(r).toMatchObject({ dropped: 1, completed: 1, open: 0, anomalies: [] });
    expect(r.history.find((h) => h.id === applied.id)).toMatchObject({ completeMs: 40, output: { type: 'write' } });
    expect(r.history.some((h) => h.id === lost.id)).toBe(false);
    // With holes in the history, a missing value proves nothing.
    expect(resolveIndeterminate([lost], k, false)).toMatchObject({ dropped: 0, open: 1 });
  });

  it('reports a value applied before its write was invoked', () => {
    const phantom = op({ kind: 'write', key: 'a', value: 'p', invokeMs: 100, result: 'indeterminate', status: 504 });
    const read = op({ kind: 'read', key: 'a', invokeMs: 0, completeMs: 10, output: { type: 'read', value: 'q' } });
    const r = resolveIndeterminate([phantom, read], known([[1, 'a', 'p'], [2, 'a', 'q']]), true);
    expect(r.anomalies).toHaveLength(1);
  });
});

describe('checkWriteOrder', () => {
  const w = (value: string, invokeMs: number, completeMs: number, revision: number) =>
    op({ kind: 'write', key: 'a', value, invokeMs, completeMs, output: { type: 'write' }, revision });
  const read = (value: string, invokeMs: number, completeMs: number) => op({ kind: 'read', key: 'a', invokeMs, completeMs, output: { type: 'read', value } });
  const history = known([
    [1, 'a', 'x'],
    [2, 'a', 'y'],
  ]);

  it('accepts a history that follows the store\'s order', () => {
    expect(checkWriteOrder([w('x', 0, 10, 1), read('x', 5, 15), w('y', 12, 20, 2), read('y', 21, 22)], history).problems).toEqual([]);
  });

  it('refuses a stale read (the old value after the new one was acknowledged)', () => {
    expect(checkWriteOrder([w('x', 0, 10, 1), w('y', 12, 20, 2), read('x', 25, 30)], history).problems.join()).toMatch(/op \d+ \(write y\) completed at 20/);
  });

  it('refuses a read of a value before its write was invoked', () => {
    expect(checkWriteOrder([read('y', 0, 5), w('x', 0, 10, 1), w('y', 12, 20, 2)], history).problems.join()).toMatch(/before that version could exist/);
  });

  it('refuses writes whose order contradicts real time', () => {
    expect(checkWriteOrder([w('x', 30, 40, 1), w('y', 0, 10, 2)], history).problems.join()).toMatch(/completed at 10/);
  });

  it('refuses a compare-and-set that succeeded on another version, and a read of an unknown value', () => {
    const cas = op({ kind: 'cas', key: 'a', invokeMs: 12, completeMs: 20, input: { type: 'cas', expected: 'zzz', value: 'y' }, output: { type: 'cas', ok: true }, revision: 2 });
    expect(checkWriteOrder([w('x', 0, 10, 1), cas], history).problems.join()).toMatch(/expected "zzz" but the version before was "x"/);
    expect(checkWriteOrder([w('x', 0, 10, 1), read('ghost', 0, 5)], history).problems.join()).toMatch(/no such version/);
  });
});

// ------------------------------------------------------------------------------------ the proxy

describe('FaultProxies', () => {
  let upstream: net.Server;
  let proxies: FaultProxies;
  let port: number;
  beforeAll(async () => {
    // Answers every request with a tiny HTTP response (one per connection is enough here).
    upstream = net.createServer((s) => {
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const [listen] = await (await import('../support/ports.js')).freePorts(1);
    port = listen!;
    proxies = new FaultProxies();
    proxies.addSender('http://127.0.0.1:1111', 'a');
    await proxies.listen({ id: 'b', listenPort: port, targetPort: (upstream.address() as AddressInfo).port });
  });
  afterAll(async () => {
    await proxies.close();
    await new Promise((r) => upstream.close(r));
  });

  /** One request through the proxy as node `from`; resolves with what happened within `ms`. */
  function send(from: 'a' | 'x', ms = 400): Promise<{ outcome: 'answer' | 'reset' | 'silence'; elapsedMs: number }> {
    const started = Date.now();
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      const done = (outcome: 'answer' | 'reset' | 'silence') => {
        clearTimeout(t);
        s.destroy();
        resolve({ outcome, elapsedMs: Date.now() - started });
      };
      const t = setTimeout(() => done('silence'), ms);
      s.on('data', () => done('answer'));
      s.on('error', () => done('reset'));
      s.on('close', () => done('reset'));
      const who = from === 'a' ? 'conflux-peer-url: http://127.0.0.1:1111' : 'conflux-forwarded-by: x';
      s.write(`POST /raft/vote HTTP/1.1\r\nHost: b\r\n${who}\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  it('passes traffic, drops it, black-holes it and delays it, per sender and direction', async () => {
    expect((await send('a')).outcome).toBe('answer');
    proxies.set('a', 'b', { kind: 'drop' });
    expect((await send('a')).outcome).toBe('reset');
    // Another sender on the same destination is not affected (one-way, per-link faults).
    expect((await send('x')).outcome).toBe('answer');
    proxies.set('a', 'b', { kind: 'blackhole' });
    expect((await send('a')).outcome).toBe('silence');
    proxies.set('a', 'b', { kind: 'delay', ms: 150 });
    const delayed = await send('a', 2000);
    expect(delayed.outcome).toBe('answer');
    expect(delayed.elapsedMs).toBeGreaterThanOrEqual(290); // both directions are delayed
    proxies.healAll();
    expect((await send('a')).outcome).toBe('answer');
    expect(proxies.activeFaults()).toEqual([]);
  });
});

// ------------------------------------------------------------------------- answer classification

describe('Workload classification', () => {
  let server: http.Server;
  let url: string;
  let answer: { status: number; body: string; delayMs?: number } = { status: 200, body: 'v' };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const { status, body, delayMs } = answer;
        setTimeout(() => {
          res.writeHead(status, { etag: '"3"' });
          res.end(body);
        }, delayMs ?? 0);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  // A generous timeout by default: on a loaded machine a prompt answer can take a few hundred ms,
  // and must not be classified as a timeout.
  async function classify(a: typeof answer, targetURL = url, opTimeoutMs = 3000): Promise<Record<string, number>> {
    answer = a;
    const w = new Workload({ seed: 1, clients: 1, keys: ['k'], targets: () => [{ id: 'n1', url: targetURL }], opTimeoutMs, thinkMsMax: 0, now: () => performance.now() });
    w.start();
    await new Promise((r) => setTimeout(r, 300));
    await w.stop();
    const results: Record<string, number> = {};
    for (const o of w.ops) results[o.result] = (results[o.result] ?? 0) + 1;
    return results;
  }

  it('2xx and 412 complete; 503 and refused connections are not applied; 504 and timeouts are indeterminate', async () => {
    expect(Object.keys(await classify({ status: 200, body: '{"revision":1}' }))).toEqual(['ok']);
    expect(Object.keys(await classify({ status: 503, body: '{}' }))).toEqual(['failed']);
    expect(Object.keys(await classify({ status: 504, body: '{}' }))).toEqual(['indeterminate']);
    expect(Object.keys(await classify({ status: 200, body: '{}', delayMs: 1000 }, url, 200))).toEqual(['indeterminate']);
    const closed = (await import('../support/ports.js')).freePorts(1);
    expect(Object.keys(await classify({ status: 200, body: '' }, `http://127.0.0.1:${(await closed)[0]}`))).toEqual(['failed']);
  });
});
