import { describe, expect, it } from 'vitest';
import { quorumIndex, voteOutcome } from '../../node/src/raft/quorum.js';
import { seededRng } from '../../node/src/raft/rng.js';

/** The obvious, slow definition: the largest index that more than half the voters have reached. */
function naiveQuorumIndex(matches: number[]): number {
  let best = 0;
  for (const candidate of matches) {
    const holders = matches.filter((m) => m >= candidate).length;
    if (holders > matches.length / 2) best = Math.max(best, candidate);
  }
  return best;
}

describe('§5.3 commit index: quorumIndex against a reference model', () => {
  it('agrees with the naive definition on random configurations', () => {
    const rng = seededRng(2024);
    for (let round = 0; round < 5000; round++) {
      const n = rng.int(1, 8);
      const ids = Array.from({ length: n }, (_, i) => `n${i}`);
      const matches = ids.map(() => rng.int(0, 50));
      expect(quorumIndex(ids, (id) => matches[Number(id.slice(1))]!)).toBe(naiveQuorumIndex(matches));
    }
  });

  it('commits nothing without voters', () => {
    expect(quorumIndex([], () => 10)).toBe(0);
  });
});

describe('§5.2 vote tallies', () => {
  it('wins with a majority, loses once a majority is out of reach', () => {
    const ids = ['a', 'b', 'c', 'd'];
    expect(voteOutcome(ids, new Map([['a', true], ['b', true]]))).toBe('pending');
    expect(voteOutcome(ids, new Map([['a', true], ['b', true], ['c', true]]))).toBe('won');
    expect(voteOutcome(ids, new Map([['a', true], ['b', false], ['c', false]]))).toBe('lost');
    expect(voteOutcome(['a'], new Map([['a', true]]))).toBe('won');
    // Votes from non-voters do not count.
    expect(voteOutcome(['a', 'b', 'c'], new Map([['a', true], ['x', true]]))).toBe('pending');
  });
});
