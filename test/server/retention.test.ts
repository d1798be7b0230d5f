import { describe, expect, it } from 'vitest';
import type { Command, CommandResult } from '../../node/src/store/index.js';
import { silentLogger } from '../../node/src/server/logger.js';
import { HistoryRetention } from '../../node/src/server/retention.js';
import { Feeder } from '../store/helpers.js';

function fakeTarget(leader = true) {
  const state = { revision: 0, compacted: 0, proposals: [] as Command[] };
  return {
    state,
    target: {
      isLeader: () => leader,
      store: { revision: () => state.revision, compactedRevision: () => state.compacted, historyBytes: () => 0, compactionPointForBytes: () => 0 },
      propose: async (c: Command): Promise<CommandResult> => {
        state.proposals.push(c);
        if (c.type === 'compact') state.compacted = c.revision;
        return { ok: true, type: 'compact', revision: state.revision, compactedRevision: state.compacted };
      },
    },
  };
}

/** A leader over a real store, whose compactions apply at once; `proposals` lists their revisions. */
function realStore() {
  const f = new Feeder();
  const proposals: number[] = [];
  const target = {
    isLeader: () => true,
    store: f.store,
    propose: async (c: Command): Promise<CommandResult> => {
      if (c.type === 'compact') proposals.push(c.revision);
      return f.run(c);
    },
  };
  return { f, target, proposals };
}

describe('history retention', () => {
  it('count policy: keeps the last N revisions and spaces compactions out', async () => {
    const { state, target } = fakeTarget();
    const clock = { monotonicMs: () => 0, wallMs: () => 0 };
    const r = new HistoryRetention({ target, clock, logger: silentLogger, retainRevisions: 100, intervalMs: 1000 });
    state.revision = 105;
    await r.check();
    expect(state.proposals).toEqual([]);
    state.revision = 110;
    await r.check();
    expect(state.proposals).toEqual([{ type: 'compact', revision: 10 }]);
    state.revision = 115;
    await r.check();
    expect(state.proposals.length).toBe(1);
  });

  it('time policy: compacts what is older than the window', async () => {
    const { state, target } = fakeTarget();
    let now = 0;
    const clock = { monotonicMs: () => now, wallMs: () => now };
    const r = new HistoryRetention({ target, clock, logger: silentLogger, retainRevisions: 1, retainMs: 10_000, intervalMs: 1000 });
    for (let t = 0; t <= 15_000; t += 1000) {
      now = t;
      state.revision = t / 100; // 10 revisions per second
      await r.check();
    }
    const last = state.proposals.at(-1);
    expect(last).toEqual({ type: 'compact', revision: 50 });
    // Nothing younger than 10 s was dropped.
    expect(state.compacted).toBeLessThanOrEqual(150 - 100);
  });

  it('only the leader proposes', async () => {
    const { state, target } = fakeTarget(false);
    const r = new HistoryRetention({ target, clock: { monotonicMs: () => 0, wallMs: () => 0 }, logger: silentLogger, retainRevisions: 1, intervalMs: 1000 });
    state.revision = 1000;
    await r.check();
    expect(state.proposals).toEqual([]);
  });

  it('byte policy: keeps the history under the bound whatever the count allows, in steps of a tenth', async () => {
    // A real store: 1 KiB values, a count policy that would keep 10,000 revisions, and 100 KiB of history at most.
    const { f, target, proposals } = realStore();
    const limit = 100 * 1024;
    const r = new HistoryRetention({ target, clock: { monotonicMs: () => 0, wallMs: () => 0 }, logger: silentLogger, retainRevisions: 10_000, retainBytes: limit, intervalMs: 1000 });
    const value = 'v'.repeat(1024);
    for (let i = 0; i < 90; i++) f.put(`k${i % 7}`, value);
    await r.check();
    expect(proposals).toEqual([]); // 90 records of about 1.1 KB: under the bound
    const peaks: number[] = [];
    for (let i = 0; i < 1000; i++) {
      f.put(`k${i % 7}`, value);
      peaks.push(f.store.historyBytes());
      await r.check();
      expect(f.store.historyBytes()).toBeLessThanOrEqual(limit);
    }
    // Each compaction went down to nine tenths of the bound, so the next one waited for a tenth of
    // it (about 10 puts of 1.1 KB): about 90 for the 1,000 puts past the bound, not one per put.
    expect(proposals.length).toBeGreaterThanOrEqual(80);
    expect(proposals.length).toBeLessThanOrEqual(105);
    expect(f.store.historyBytes()).toBeGreaterThan(limit * 0.85);
    expect(Math.max(...peaks)).toBeLessThanOrEqual(limit + 2 * 1024);
    // The newest values are all still readable.
    expect(f.store.get('k0')?.value.byteLength).toBe(1024);
  });

  it('byte policy: the count policy still applies when it keeps less', async () => {
    const { f, target, proposals } = realStore();
    const r = new HistoryRetention({ target, clock: { monotonicMs: () => 0, wallMs: () => 0 }, logger: silentLogger, retainRevisions: 10, retainBytes: 1024 * 1024, intervalMs: 1000 });
    for (let i = 0; i < 21; i++) f.put('k', 'small');
    await r.check();
    expect(proposals).toEqual([11]);
  });
});
