// Majority arithmetic, kept apart so that it can be checked against a naive reference model.

/**
 * The highest index that a majority of `voters` has acknowledged (§5.3: "a log entry is committed
 * once the leader that created the entry has replicated it on a majority of the servers").
 * Returns 0 for an empty voter set, which commits nothing.
 */
export function quorumIndex(voters: readonly string[], matchOf: (id: string) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  // With n voters, the (floor(n/2)+1)-th highest match is held by a majority.
  return matches[Math.floor(voters.length / 2)]!;
}

export function isMajority(count: number, voterCount: number): boolean {
  return count > voterCount / 2;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Tally of an election among `voters` given the answers received so far. */
export function voteOutcome(voters: readonly string[], votes: ReadonlyMap<string, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (isMajority(granted, voters.length)) return 'won';
  // Lost once the remaining voters can no longer make a majority.
  if (rejected >= voters.length - Math.floor(voters.length / 2)) return 'lost';
  return 'pending';
}
