// Raft §5.4 (and Figure 3, "Leader Completeness"): if a log entry is committed in a given term,
// then that entry will be present in the logs of the leaders for all higher-numbered terms.
//
// "Committed" is learned from the outside: an entry some node applied. The term in which it was
// committed is not observable, so it is bounded from above by the highest term seen anywhere when
// the commit was first observed; leaders of terms above that bound must hold the entry. Commits
// are observed in index order, so the bounds never decrease along the log, and by Log Matching
// (checked separately) it is enough to check the highest such entry.
import { SimViolation } from '../violation.js';

interface Committed {
  index: number;
  term: number;
  /** >= the term in which the entry was committed. */
  commitTermBound: number;
}

export interface LeaderLog {
  /** Term of the entry at `index` in the leader's log (in memory), undefined if absent or compacted. */
  termAt(index: number): number | undefined;
  /** Entries up to here are covered by the leader's snapshot. */
  snapshotIndex: number;
}

export class LeaderCompleteness {
  static readonly checker = 'leader-completeness';
  private readonly committed: Committed[] = [];

  observeCommitted(index: number, term: number, highestTermSeen: number): void {
    const last = this.committed[this.committed.length - 1];
    if (last !== undefined && index <= last.index) return;
    const bound = Math.max(highestTermSeen, last?.commitTermBound ?? 0, term);
    this.committed.push({ index, term, commitTermBound: bound });
  }

  checkLeader(server: string, leaderTerm: number, log: LeaderLog): void {
    const entry = this.highestCommittedBefore(leaderTerm);
    if (entry === undefined || entry.index <= log.snapshotIndex) return;
    const held = log.termAt(entry.index);
    if (held !== entry.term) {
      throw new SimViolation(
        LeaderCompleteness.checker,
        `leader ${server} of term ${leaderTerm} lacks committed entry (index ${entry.index}, term ${entry.term}) ` +
          `committed by term ${entry.commitTermBound}; it holds ${held === undefined ? 'nothing' : `term ${held}`} there`,
      );
    }
  }

  private highestCommittedBefore(leaderTerm: number): Committed | undefined {
    let lo = 0;
    let hi = this.committed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.committed[mid] as Committed).commitTermBound < leaderTerm) lo = mid + 1;
      else hi = mid;
    }
    return this.committed[lo - 1];
  }
}
