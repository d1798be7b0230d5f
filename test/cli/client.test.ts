// The typed client against real apps (fake node): results, errors, endpoint failover, and watches
// that resume without gaps or duplicates.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfluxClient,
  ConfluxHttpError,
  OutcomeUnknownError,
  UnreachableError,
  type WatchEvent,
} from '../../node/src/cli/client.js';
import { startServer, type TestServer } from '../http/harness.js';
import { refusedURL } from '../support/ports.js';

let t: TestServer;
let deadURL: string;

beforeAll(async () => {
  t = await startServer({ options: { listLimitMax: 3 } });
  // A port that was just free: connections to it are refused.
  deadURL = await refusedURL();
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => t.node.reset());

describe('ConfluxClient', () => {
  it('puts, gets, lists every page, reads history, rolls back and deletes', async () => {
    const c = new ConfluxClient({ endpoints: [t.url] });
    const created = await c.put('app/a b', 'one', { contentType: 'text/plain' });
    expect(created).toEqual({ key: 'app/a b', revision: 1, createRevision: 1, modRevision: 1, version: 1, created: true });
    const updated = await c.put('app/a b', new Uint8Array([0xff]), { ifMatch: 1 });
    expect(updated.created).toBe(false);
    const kv = await c.get('app/a b');
    expect(kv).toMatchObject({ key: 'app/a b', contentType: 'application/octet-stream', modRevision: 2, createRevision: 1, version: 2, revision: 2 });
    expect([...kv.value]).toEqual([0xff]);
    expect(new TextDecoder().decode((await c.get('app/a b', { revision: 1 })).value)).toBe('one');
    for (let i = 0; i < 7; i++) await c.put(`app/k${i}`, `v${i}`);
    const keys: string[] = [];
    for await (const item of c.listAll({ prefix: 'app/', pageSize: 2 })) keys.push(item.key);
    expect(keys).toEqual(['app/a b', ...Array.from({ length: 7 }, (_, i) => `app/k${i}`)]);
    // The server caps pages at 3; listAll still sees everything.
    let n = 0;
    for await (const _ of c.listAll({ prefix: 'app/' })) n++;
    expect(n).toBe(8);
    const h = await c.history('app/a b');
    expect(h.items.map((i) => i.modRevision)).toEqual([2, 1]);
    const rolled = await c.rollback('app/a b', 1);
    expect(rolled.toRevision).toBe(1);
    expect(await c.delete('app/a b')).toEqual({ key: 'app/a b', revision: rolled.revision + 1 });
  });

  it('throws ConfluxHttpError with the code, message, details and Retry-After', async () => {
    const c = new ConfluxClient({ endpoints: [t.url] });
    await c.put('k', 'v');
    const err = await c.put('k', 'w', { ifMatch: 9 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfluxHttpError);
    expect(err).toMatchObject({ status: 412, code: 'precondition_failed', details: { modRevision: 1 } });
    const missing = await c.get('nope').catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
    t.node.becomeFollower(null, null);
    try {
      const quick = await startServer({ node: t.node, options: { leaderWaitMs: 0 } });
      try {
        const noLeader = await new ConfluxClient({ endpoints: [quick.url] }).put('k', 'v').catch((e: unknown) => e);
        expect(noLeader).toMatchObject({ status: 503, code: 'no_leader', retryAfterSeconds: 1 });
      } finally {
        await quick.close();
      }
    } finally {
      t.node.becomeLeader();
    }
  });

  it('moves to the next endpoint when one refuses connections, reads and writes alike', async () => {
    const c = new ConfluxClient({ endpoints: [deadURL, t.url] });
    expect((await c.put('k', 'v')).created).toBe(true);
    expect(c.endpoint).toBe(t.url);
    expect(new TextDecoder().decode((await c.get('k')).value)).toBe('v');
  });

  it('UnreachableError names every endpoint it tried', async () => {
    const c = new ConfluxClient({ endpoints: [deadURL, `${deadURL}/`] });
    const err = await c.status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as UnreachableError).attempts).toEqual([
      { endpoint: deadURL, reason: 'ECONNREFUSED' },
      { endpoint: deadURL, reason: 'ECONNREFUSED' },
    ]);
  });

  it('never resends a write whose connection broke after sending: OutcomeUnknownError', async () => {
    let received = 0;
    const reset = http.createServer((req) => {
      received++;
      req.socket.destroy();
    });
    await new Promise<void>((r) => reset.listen(0, '127.0.0.1', r));
    const resetURL = `http://127.0.0.1:${(reset.address() as AddressInfo).port}`;
    try {
      const c = new ConfluxClient({ endpoints: [resetURL, t.url] });
      const err = await c.put('k', 'v').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutcomeUnknownError);
      expect(received).toBe(1);
      expect(t.node.proposed).toHaveLength(0);
      // A read may go elsewhere.
      await t.node.applyNow({ type: 'put', key: 'k', value: new Uint8Array([1]), contentType: 'a/b' });
      const c2 = new ConfluxClient({ endpoints: [resetURL, t.url] });
      expect((await c2.get('k')).version).toBe(1);
    } finally {
      reset.closeAllConnections();
      await new Promise<void>((r) => reset.close(() => r()));
    }
  });

  it('sends the bearer token', async () => {
    const seen: (string | undefined)[] = [];
    const authed = await startServer({ node: t.node, authorize: (req) => void seen.push(req.get('Authorization')) });
    try {
      await new ConfluxClient({ endpoints: [authed.url], token: 'tok-1' }).status();
      expect(seen).toEqual(['Bearer tok-1']);
    } finally {
      await authed.close();
    }
  });
});

describe('ConfluxClient.watch', () => {
  it('replays, streams live, and resumes after the server ends the stream without gaps or duplicates', async () => {
    const c = new ConfluxClient({ endpoints: [t.url] });
    for (let i = 1; i <= 3; i++) await c.put('w/k', String(i));
    const events: WatchEvent[] = [];
    const notices: string[] = [];
    const controller = new AbortController();
    const done = c.watch({
      prefix: 'w/',
      fromRevision: 2,
      signal: controller.signal,
      retryDelayMs: 10,
      onEvent: (e) => events.push(e),
      onNotice: (m) => notices.push(m),
    });
    await until(() => events.length === 2);
    // The node ends every stream (as on shutdown); the client resumes after the last revision.
    t.client.close();
    await c.put('w/k', '4');
    await c.delete('w/k');
    await until(() => events.length === 4);
    controller.abort();
    expect(await done).toEqual({ kind: 'aborted', lastRevision: 5 });
    expect(events.map((e) => [e.type, e.revision])).toEqual([
      ['put', 2],
      ['put', 3],
      ['put', 4],
      ['delete', 5],
    ]);
    expect(new TextDecoder().decode(events[2]?.value)).toBe('4');
    expect(notices.some((n) => n.includes('resumed'))).toBe(true);
  });

  it('ends with compacted when the requested history is gone', async () => {
    const c = new ConfluxClient({ endpoints: [t.url] });
    for (let i = 1; i <= 4; i++) await c.put('k', String(i));
    t.node.applyNow({ type: 'compact', revision: 3 });
    expect(await c.watch({ fromRevision: 1, onEvent: () => undefined })).toEqual({ kind: 'compacted', oldestRevision: 3 });
  });

  it('throws UnreachableError when no endpoint answers at the start', async () => {
    const c = new ConfluxClient({ endpoints: [deadURL] });
    await expect(c.watch({ onEvent: () => undefined })).rejects.toBeInstanceOf(UnreachableError);
  });

  it('throws a refused watch (bad argument) instead of retrying it', async () => {
    const c = new ConfluxClient({ endpoints: [t.url] });
    await expect(c.watch({ prefix: 'a\u0000', onEvent: () => undefined })).rejects.toMatchObject({ status: 400 });
  });
});

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
