import { describe, expect, it } from 'vitest';
import type { Command, CommandResult } from '../../node/src/store/index.js';
import { silentLogger } from '../../node/src/server/logger.js';
import { HistoryRetention } from '../../node/src/server/retention.js';

function fakeTarget(leader = true) {
  const state = { revision: 0, compacted: 0, proposals: [] as Command[] };
  return {
    state,
    target: {
      isLeader: () => leader,
      store: { revision: () => state.revision, compactedRevision: () => state.compacted },
      propose: async (c: Command): Promise<CommandResult> => {
        state.proposals.push(c);
        if (c.type === 'compact') state.compacted = c.revision;
        return { ok: true, type: 'compact', revision: state.revision, compactedRevision: state.compacted };
      },
    },
  };
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
});
