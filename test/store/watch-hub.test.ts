import { describe, expect, it } from 'vitest';
import type { Command } from '../../node/src/store/commands.js';
import { InvalidArgumentError, WatchCancelledError } from '../../node/src/store/errors.js';
import { WatchHub, type WatchEvent, type WatchStart, type Watcher } from '../../node/src/store/watch-hub.js';
import { Feeder, dec, meta, randomCommand, randomKey, seededRng } from './helpers.js';

function watching(start: WatchStart): Watcher {
  if (start.kind !== 'watching') throw new Error(`expected a watcher, got ${JSON.stringify(start)}`);
  return start.watcher;
}

const brief = (e: WatchEvent): string => `${e.revision}:${e.type}:${e.key}${e.type === 'put' ? `=${dec(e.value)}` : ''}`;

function setup(): { f: Feeder; hub: WatchHub } {
  const f = new Feeder();
  return { f, hub: new WatchHub(f.store) };
}

function cancelReason(fn: () => unknown): WatchCancelledError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WatchCancelledError);
    return err as WatchCancelledError;
  }
  throw new Error('expected a WatchCancelledError');
}

describe('WatchHub: replay then live', () => {
  it('replays retained history from fromRevision (inclusive), then delivers live events in order', () => {
    const { f, hub } = setup();
    f.put('app/a', '1'); // 1
    f.put('other/x', 'x'); // 2
    f.put('app/b', '2'); // 3
    f.del('app/a'); // 4
    const w = watching(hub.watch({ prefix: 'app/', fromRevision: 3, maxBufferedEvents: 10 }));
    expect(w.take().map(brief)).toEqual(['3:put:app/b=2', '4:delete:app/a']);
    expect(w.take()).toEqual([]);
    f.put('app/a', 'again'); // 5
    f.put('other/y', 'y'); // 6
    f.put('app/b', '3'); // 7
    expect(w.take().map(brief)).toEqual(['5:put:app/a=again', '7:put:app/b=3']);
    expect(w.nextRevision).toBe(8);
  });

  it('event shape: put carries the version data; delete has version 0 and an empty value', () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ fromRevision: 1, maxBufferedEvents: 10 }));
    f.put('k', 'v1', { contentType: 'application/json' });
    f.put('k', 'v2', { contentType: 'application/json' });
    f.del('k');
    const [, put, del] = w.take();
    expect({ ...put, value: dec(put?.value as Uint8Array) }).toEqual({
      revision: 2, type: 'put', key: 'k', modRevision: 2, createRevision: 1, version: 2,
      contentType: 'application/json', value: 'v2',
    });
    expect({ ...del, value: del?.value.length }).toEqual({
      revision: 3, type: 'delete', key: 'k', modRevision: 3, createRevision: 0, version: 0, contentType: '', value: 0,
    });
  });

  it('without fromRevision only changes after the current revision arrive', () => {
    const { f, hub } = setup();
    f.put('a', '1');
    const w = watching(hub.watch({ maxBufferedEvents: 10 }));
    expect(w.take()).toEqual([]);
    f.put('a', '2');
    expect(w.take().map(brief)).toEqual(['2:put:a=2']);
  });

  it('a watch may start in the future and waits for it', () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ fromRevision: 3, maxBufferedEvents: 10 }));
    f.put('a', '1');
    f.put('a', '2');
    expect(w.pendingEvents).toBe(0); // changes before fromRevision are not owed to it
    expect(w.take()).toEqual([]);
    f.put('a', '3');
    expect(w.pendingEvents).toBe(1);
    expect(w.take().map(brief)).toEqual(['3:put:a=3']);
    expect(w.pendingEvents).toBe(0);
  });

  it('take(max) returns at most max events and resumes where it stopped', () => {
    const { f, hub } = setup();
    for (let i = 1; i <= 10; i++) f.put('k', String(i));
    const w = watching(hub.watch({ fromRevision: 1, maxBufferedEvents: 10 }));
    expect(w.take(4).map((e) => e.revision)).toEqual([1, 2, 3, 4]);
    expect(w.take(4).map((e) => e.revision)).toEqual([5, 6, 7, 8]);
    expect(w.take(4).map((e) => e.revision)).toEqual([9, 10]);
  });

  it('all events of one apply batch arrive together, in revision order', async () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ maxBufferedEvents: 100 }));
    const it = w[Symbol.asyncIterator]();
    const next = it.next();
    const batch: Command[] = [1, 2, 3].map((i) => ({ type: 'put', key: `k${i}`, value: new Uint8Array(0), contentType: 'a' }));
    f.batch(batch);
    const got = await next;
    expect(got.done).toBe(false);
    expect(got.value?.map((e: WatchEvent) => e.revision)).toEqual([1, 2, 3]);
    await it.return?.();
  });

  it('refuses bad options', () => {
    const { hub } = setup();
    expect(() => hub.watch({ fromRevision: 0, maxBufferedEvents: 1 })).toThrow(InvalidArgumentError);
    expect(() => hub.watch({ fromRevision: 1.5, maxBufferedEvents: 1 })).toThrow(InvalidArgumentError);
    expect(() => hub.watch({ maxBufferedEvents: 0 })).toThrow(InvalidArgumentError);
    expect(() => hub.watch({ prefix: '\uDC00', maxBufferedEvents: 1 })).toThrow(InvalidArgumentError);
  });
});

describe('WatchHub: compaction', () => {
  it('fromRevision below the oldest retained revision gives one compacted outcome carrying it', () => {
    const { f, hub } = setup();
    for (let i = 0; i < 5; i++) f.put('k', String(i));
    f.compact(3);
    expect(hub.watch({ fromRevision: 2, maxBufferedEvents: 10 })).toEqual({ kind: 'compacted', oldestRevision: 3 });
    expect(hub.activeCount()).toBe(0);
    // The compaction revision itself is still replayable.
    const w = watching(hub.watch({ fromRevision: 3, maxBufferedEvents: 10 }));
    expect(w.take().map((e) => e.revision)).toEqual([3, 4, 5]);
  });

  it('a delete at the compaction revision is still delivered', () => {
    const { f, hub } = setup();
    f.put('k', 'v'); // 1
    f.del('k'); // 2
    f.compact(2);
    const w = watching(hub.watch({ fromRevision: 2, maxBufferedEvents: 10 }));
    expect(w.take().map(brief)).toEqual(['2:delete:k']);
  });

  it('a watcher whose unread history gets compacted is cancelled with the oldest revision', async () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ prefix: 'a/', fromRevision: 1, maxBufferedEvents: 100 }));
    f.put('a/1', 'x'); // 1, not taken yet
    f.put('a/2', 'x'); // 2
    f.compact(2);
    const err = cancelReason(() => w.take());
    expect(err).toMatchObject({ code: 'watch_cancelled', reason: 'compacted', oldestRevision: 2 });
    expect(hub.activeCount()).toBe(0);
    await expect(w.ready()).resolves.toBeUndefined();
  });

  it('an idle watcher on a quiet prefix survives compaction of unrelated history', () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ prefix: 'quiet/', maxBufferedEvents: 2 }));
    for (let i = 0; i < 50; i++) f.put('busy/k', String(i));
    f.compact(50);
    expect(w.closed).toBe(false);
    f.put('quiet/k', 'hello');
    expect(w.take().map(brief)).toEqual(['51:put:quiet/k=hello']);
  });
});

describe('WatchHub: many watchers, shared and nested prefixes', () => {
  it('every watcher of a prefix gets each matching change once; nested and other prefixes get theirs', async () => {
    const { f, hub } = setup();
    const shared = Array.from({ length: 50 }, () => watching(hub.watch({ prefix: 'app/', maxBufferedEvents: 10 })));
    const nested = watching(hub.watch({ prefix: 'app/db/', maxBufferedEvents: 10 }));
    const all = watching(hub.watch({ maxBufferedEvents: 10 }));
    const other = watching(hub.watch({ prefix: 'other/', maxBufferedEvents: 10 }));
    const woken = shared[7]!.ready();
    f.put('zzz', '0'); // 1
    f.put('app/db/x', '1'); // 2
    f.put('app/y', '2'); // 3
    await woken;
    for (const w of shared) expect(w.take().map(brief)).toEqual(['2:put:app/db/x=1', '3:put:app/y=2']);
    expect(nested.take().map(brief)).toEqual(['2:put:app/db/x=1']);
    expect(all.take().map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(other.take()).toEqual([]);
    expect(other.pendingEvents).toBe(0);
    // A closed watcher leaves its prefix's group; the others go on.
    shared[0]!.close();
    f.put('app/z', '3'); // 4
    expect(shared[0]!.take()).toEqual([]);
    expect(shared[1]!.take().map(brief)).toEqual(['4:put:app/z=3']);
    expect(hub.activeCount()).toBe(52);
  });

  it('a watcher that took its events survives compaction of later unrelated history, and one with unread events does not', () => {
    const { f, hub } = setup();
    const reader = watching(hub.watch({ prefix: 'a/', maxBufferedEvents: 10 }));
    const laggard = watching(hub.watch({ prefix: 'a/', maxBufferedEvents: 10 }));
    f.put('a/1', 'x'); // 1
    expect(reader.take().map(brief)).toEqual(['1:put:a/1=x']);
    for (let i = 0; i < 20; i++) f.put('busy/k', String(i)); // 2..21
    f.compact(21);
    expect(reader.closed).toBe(false);
    expect(cancelReason(() => laggard.take())).toMatchObject({ reason: 'compacted' });
    f.put('a/2', 'y'); // 22
    expect(reader.take().map(brief)).toEqual(['22:put:a/2=y']);
  });

  it('a watcher from a future revision counts only the changes from it on', () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ prefix: 'a/', fromRevision: 3, maxBufferedEvents: 1 }));
    f.put('a/1', 'x'); // 1
    f.put('a/2', 'x'); // 2: neither counts against the bound of 1
    expect(w.pendingEvents).toBe(0);
    f.put('a/3', 'x'); // 3
    expect(w.take().map(brief)).toEqual(['3:put:a/3=x']);
  });
});

describe('WatchHub: bounded lag (slow watchers)', () => {
  it('cuts off a watcher with more than maxBufferedEvents matching live events waiting', async () => {
    const { f, hub } = setup();
    const slow = watching(hub.watch({ prefix: 'a/', maxBufferedEvents: 3 }));
    const fast = watching(hub.watch({ prefix: 'a/', maxBufferedEvents: 3 }));
    expect(hub.activeCount()).toBe(2);
    for (let i = 0; i < 10; i++) f.put('b/other', String(i)); // not matching: does not count
    for (let i = 0; i < 3; i++) f.put('a/k', String(i));
    expect(slow.pendingEvents).toBe(3);
    expect(fast.take()).toHaveLength(3);
    f.put('a/k', 'one too many');
    expect(slow.closed).toBe(true);
    const err = cancelReason(() => slow.take());
    expect(err.reason).toBe('slow_watcher');
    expect(err.message).toMatch(/4 events behind \(limit 3\)/);
    expect(slow.cancelReason).toBe(err);
    expect(fast.closed).toBe(false);
    expect(hub.activeCount()).toBe(1);
    // The async iterator surfaces the same typed reason.
    await expect(
      (async () => {
        for await (const _ of slow) void _;
      })(),
    ).rejects.toBeInstanceOf(WatchCancelledError);
  });

  it('replayed history does not count towards the bound', () => {
    const { f, hub } = setup();
    for (let i = 0; i < 100; i++) f.put('k', String(i));
    const w = watching(hub.watch({ fromRevision: 1, maxBufferedEvents: 2 }));
    f.put('k', 'live');
    const all: WatchEvent[] = [];
    for (let batch = w.take(10); batch.length > 0; batch = w.take(10)) all.push(...batch);
    expect(all.map((e) => e.revision)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
  });
});

describe('WatchHub: async iteration, close and restore', () => {
  it('a waiting consumer wakes on a matching event only, and leaving the loop closes the watcher', async () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ prefix: 'a/', maxBufferedEvents: 10 }));
    let woke = false;
    const ready = w.ready().then(() => (woke = true));
    f.put('b/1', 'x');
    await Promise.resolve();
    expect(woke).toBe(false);
    f.put('a/1', 'x');
    await ready;
    expect(woke).toBe(true);
    const seen: number[] = [];
    setTimeout(() => f.put('a/2', 'y'), 0);
    for await (const batch of w) {
      seen.push(...batch.map((e) => e.revision));
      if (seen.includes(3)) break;
    }
    expect(seen).toEqual([2, 3]);
    expect(w.closed).toBe(true);
    expect(hub.activeCount()).toBe(0);
  });

  it('close() ends the iteration normally and take() returns nothing', async () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ maxBufferedEvents: 10 }));
    const done = (async () => {
      const got: number[] = [];
      for await (const batch of w) got.push(...batch.map((e) => e.revision));
      return got;
    })();
    f.put('k', 'v');
    await new Promise((r) => setTimeout(r, 0));
    w.close();
    expect(await done).toEqual([1]);
    f.put('k', 'v2');
    expect(w.take()).toEqual([]);
    expect(hub.activeCount()).toBe(0);
  });

  it('restore cancels every watcher with reason restored', async () => {
    const { f, hub } = setup();
    f.put('k', 'v');
    const image = f.store.snapshot(meta(1));
    const w = watching(hub.watch({ fromRevision: 1, maxBufferedEvents: 10 }));
    await f.store.restore(meta(1), image);
    expect(cancelReason(() => w.take()).reason).toBe('restored');
    expect(hub.activeCount()).toBe(0);
  });

  it('hub.close() detaches from the store and closes its watchers', () => {
    const { f, hub } = setup();
    const w = watching(hub.watch({ maxBufferedEvents: 10 }));
    hub.close();
    f.put('k', 'v');
    expect(w.closed).toBe(true);
    expect(w.take()).toEqual([]);
  });
});

describe('WatchHub: exactly once across a resume', () => {
  it('a random workload watched with random take sizes, closed and resumed at Last-Event-ID + 1, sees every matching revision once, in order', () => {
    for (const seed of [1, 2, 3]) {
      const rng = seededRng(seed);
      const { f, hub } = setup();
      const keys = Array.from({ length: 20 }, () => randomKey(rng, ['app', 'cfg']));
      const prefix = 'app/';
      let w = watching(hub.watch({ prefix, fromRevision: 1, maxBufferedEvents: 1_000_000 }));
      const seen: WatchEvent[] = [];
      let resumes = 0;
      for (let step = 0; step < 800; step++) {
        const roll = rng.next();
        if (roll < 0.7) {
          const cmd = randomCommand(rng, f.store, keys);
          // Keep compaction away from the watcher's unread history for this test.
          if (cmd.type === 'compact') continue;
          f.run(cmd);
        } else if (roll < 0.95) {
          seen.push(...w.take(rng.int(1, 10)));
        } else {
          // Reconnect: the client resumes after the last event id it saw.
          const lastId = seen.at(-1)?.revision ?? 0;
          w.close();
          w = watching(hub.watch({ prefix, fromRevision: lastId + 1, maxBufferedEvents: 1_000_000 }));
          resumes++;
        }
      }
      for (let batch = w.take(); batch.length > 0; batch = w.take()) seen.push(...batch);
      const expected: number[] = [];
      for (let r = 1; r <= f.store.revision(); r++) {
        if (f.store.changeAt(r).key.startsWith(prefix)) expected.push(r);
      }
      expect(resumes).toBeGreaterThan(3);
      expect(seen.map((e) => e.revision)).toEqual(expected);
      expect(seen.every((e) => e.key.startsWith(prefix))).toBe(true);
      expect(hub.activeCount()).toBe(1);
    }
  });
});
