// Raft §5.2 (and Figure 3, "Election Safety"): at most one leader can be elected in a given term.
// Checked whenever any node is seen in the leader role, for the whole run, across crashes: a
// restarted or wiped node is a different server (id#incarnation) and counts as such.
import { SimViolation } from '../violation.js';

export class ElectionSafety {
  static readonly checker = 'election-safety';
  private readonly leaders = new Map<number, string>();

  /** `server` identifies one server: node id and incarnation. */
  observeLeader(server: string, term: number): void {
    const known = this.leaders.get(term);
    if (known === undefined) {
      this.leaders.set(term, server);
    } else if (known !== server) {
      throw new SimViolation(ElectionSafety.checker, `two leaders in term ${term}: ${known} and ${server}`);
    }
  }

  leaderOf(term: number): string | undefined {
    return this.leaders.get(term);
  }

  termsWithLeader(): number {
    return this.leaders.size;
  }
}
