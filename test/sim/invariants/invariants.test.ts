// Each checker must fire on the violation it is named after, and stay quiet on legal histories.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../../node/src/raft/types.js';
import { chain, fingerprint } from '../kv.js';
import { SimViolation } from '../violation.js';
import { checkAcknowledgedWrites } from './acknowledged-writes.js';
import { ElectionSafety } from './election-safety.js';
import { FOREIGN_TERM_BASE, IdentityCheck } from './identity.js';
import { LeaderCompleteness } from './leader-completeness.js';
import { LivenessCheck } from './liveness.js';
import { LogMatching } from './log-matching.js';
import { StateMachineSafety } from './state-machine-safety.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const entry = (index: number, term: number, data = `e${index}t${term}`): Entry => ({ index, term, kind: 'normal', data: bytes(data) });

function violation(fn: () => void): SimViolation {
  try {
    fn();
  } catch (err) {
    if (err instanceof SimViolation) return err;
    throw err;
  }
  throw new Error('expected a SimViolation');
}

describe('§5.2 election safety', () => {
  it('allows one leader per term, re-observed any number of times', () => {
    const c = new ElectionSafety();
    c.observeLeader('n1#a', 2);
    c.observeLeader('n1#a', 2);
    c.observeLeader('n2#b', 3);
    expect(c.termsWithLeader()).toBe(2);
  });

  it('fires on two leaders in one term', () => {
    const c = new ElectionSafety();
    c.observeLeader('n1#a', 2);
    expect(violation(() => c.observeLeader('n2#b', 2)).message).toMatch(/two leaders in term 2/);
  });

  it('treats a wiped node (new incarnation) as a different server', () => {
    const c = new ElectionSafety();
    c.observeLeader('n1#a', 4);
    expect(() => c.observeLeader('n1#b', 4)).toThrow(SimViolation);
  });
});

describe('§5.3 log matching', () => {
  it('accepts the same entry on several nodes', () => {
    const c = new LogMatching();
    for (const node of ['n1', 'n2']) {
      c.observeStored(node, 1, 1, fingerprint(entry(1, 1)), 0);
      c.observeStored(node, 2, 3, fingerprint(entry(2, 3)), 1);
    }
  });

  it('fires when (index, term) carries different content', () => {
    const c = new LogMatching();
    c.observeStored('n1', 2, 3, fingerprint(entry(2, 3, 'x')), 1);
    expect(violation(() => c.observeStored('n2', 2, 3, fingerprint(entry(2, 3, 'y')), 1)).checker).toBe('log-matching');
  });

  it('fires when equal entries follow different predecessors', () => {
    const c = new LogMatching();
    c.observeStored('n1', 5, 4, fingerprint(entry(5, 4)), 2);
    expect(violation(() => c.observeStored('n2', 5, 4, fingerprint(entry(5, 4)), 3)).message).toMatch(/follows term 2/);
  });

  it('fires when terms decrease along one log', () => {
    const c = new LogMatching();
    expect(violation(() => c.observeStored('n1', 3, 1, fingerprint(entry(3, 1)), 2)).message).toMatch(/lower than/);
  });

  it('cannot compare a predecessor that was compacted away', () => {
    const c = new LogMatching();
    c.observeStored('n1', 9, 4, fingerprint(entry(9, 4)), undefined);
    c.observeStored('n2', 9, 4, fingerprint(entry(9, 4)), 3);
    expect(() => c.observeStored('n3', 9, 4, fingerprint(entry(9, 4)), 2)).toThrow(SimViolation);
  });
});

describe('§5.4 leader completeness', () => {
  const log = (terms: Record<number, number>, snapshotIndex = 0) => ({ termAt: (i: number) => terms[i], snapshotIndex });

  it('accepts a later leader that holds the committed entry', () => {
    const c = new LeaderCompleteness();
    c.observeCommitted(5, 2, 2);
    c.checkLeader('n2#b', 3, log({ 5: 2, 6: 3 }));
  });

  it('fires when a later leader lacks it', () => {
    const c = new LeaderCompleteness();
    c.observeCommitted(5, 2, 2);
    expect(violation(() => c.checkLeader('n2#b', 3, log({ 5: 3 }))).message).toMatch(/lacks committed entry \(index 5, term 2\)/);
    expect(() => c.checkLeader('n3#c', 3, log({ 4: 2 }))).toThrow(/holds nothing there/);
  });

  it('does not require it from leaders of terms that may predate the commit', () => {
    const c = new LeaderCompleteness();
    // Observed when term 4 was the highest term anywhere: a stale leader of term 3 or 4 may lack it.
    c.observeCommitted(7, 2, 4);
    c.checkLeader('n1#a', 3, log({}));
    c.checkLeader('n1#a', 4, log({}));
    expect(() => c.checkLeader('n1#a', 5, log({}))).toThrow(SimViolation);
  });

  it('accepts a leader whose snapshot covers the entry', () => {
    const c = new LeaderCompleteness();
    c.observeCommitted(5, 2, 2);
    c.checkLeader('n2#b', 3, log({}, 8));
  });
});

describe('§5.4.3 state machine safety', () => {
  it('accepts nodes applying prefixes of one sequence', () => {
    const c = new StateMachineSafety();
    let h = 0;
    for (let i = 1; i <= 3; i++) {
      h = chain(h, fingerprint(entry(i, 1)));
      c.observeApply('n1', i, fingerprint(entry(i, 1)), h);
      c.observeApply('n2', i, fingerprint(entry(i, 1)), h);
    }
    c.observeSnapshot('n3', 3, h, 'installed');
    expect(c.appliedAt(2)).toBe(fingerprint(entry(2, 1)));
  });

  it('fires when two nodes apply different entries at one index', () => {
    const c = new StateMachineSafety();
    c.observeApply('n1', 1, fingerprint(entry(1, 1, 'a')), 1);
    expect(violation(() => c.observeApply('n2', 1, fingerprint(entry(1, 1, 'b')), 1)).checker).toBe('state-machine-safety');
  });

  it('fires when a snapshot carries a different applied history', () => {
    const c = new StateMachineSafety();
    c.observeApply('n1', 4, fingerprint(entry(4, 1)), 1234);
    expect(violation(() => c.observeSnapshot('n2', 4, 999, 'taken')).message).toMatch(/different applied history/);
  });

  it('accepts a node that skipped ahead with a snapshot and applies on from there', () => {
    const c = new StateMachineSafety();
    c.observeApply('n1', 10, fingerprint(entry(10, 2)), 5);
    c.observeApply('n2', 11, fingerprint(entry(11, 2)), 6);
    c.observeApply('n1', 11, fingerprint(entry(11, 2)), 6);
  });
});

describe('no acknowledged write lost', () => {
  const replica = (id: string, appliedIndex: number, ops: Record<number, number>) => ({
    id,
    appliedIndex,
    appliedAt: (op: number) => ops[op],
  });

  it('accepts writes present on every replica at their index', () => {
    checkAcknowledgedWrites([{ opId: 7, key: 'k', index: 3 }], [replica('n1', 5, { 7: 3 }), replica('n2', 4, { 7: 3 })]);
  });

  it('fires on a missing write', () => {
    expect(
      violation(() => checkAcknowledgedWrites([{ opId: 7, key: 'k', index: 3 }], [replica('n1', 5, {})])).message,
    ).toMatch(/#7 .* is missing on n1/);
  });

  it('fires on a write applied at another index, or a replica that is behind', () => {
    expect(() => checkAcknowledgedWrites([{ opId: 7, key: 'k', index: 3 }], [replica('n1', 5, { 7: 4 })])).toThrow(/at index 4/);
    expect(() => checkAcknowledgedWrites([{ opId: 7, key: 'k', index: 3 }], [replica('n1', 2, {})])).toThrow(/only through 2/);
  });
});

describe('liveness after healing', () => {
  it('is met once the probe is applied on every live voter', () => {
    const c = new LivenessCheck(1000, 500);
    const probe = { nowMs: 1200, committedIndex: 9, leaders: ['n1'], voters: [{ id: 'n1', applied: 9 }, { id: 'n2', applied: 8 }] };
    expect(c.evaluate(probe)).toBe(false);
    expect(c.evaluate({ ...probe, voters: [{ id: 'n1', applied: 9 }, { id: 'n2', applied: 10 }] })).toBe(true);
  });

  it('fires at the bound, saying what is missing', () => {
    const c = new LivenessCheck(1000, 500);
    expect(() => c.evaluate({ nowMs: 1500, committedIndex: null, leaders: [], voters: [] })).toThrow(/no proposal committed/);
    expect(() =>
      c.evaluate({ nowMs: 1500, committedIndex: 9, leaders: ['n1'], voters: [{ id: 'n2', applied: 3 }] }),
    ).toThrow(/n2@3/);
  });
});

describe('identity (design §2)', () => {
  it('fires when a node adopts a foreign term', () => {
    const c = new IdentityCheck();
    c.observeTerm('n1#a', FOREIGN_TERM_BASE - 1);
    expect(() => c.observeTerm('n1#a', FOREIGN_TERM_BASE + 3)).toThrow(/foreign or malformed/);
  });

  it('fires when a node that is not a member under its incarnation stores cluster state', () => {
    expect(() => new IdentityCheck().observeNonMemberWrite('n3#new', 'entries from 1')).toThrow(/not added/);
  });
});
