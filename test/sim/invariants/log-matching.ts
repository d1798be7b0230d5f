// Raft §5.3 (and Figure 3, "Log Matching"): if two logs contain an entry with the same index and
// term, then the logs are identical in all entries up through that index.
//
// Checked incrementally on every entry that reaches a node's stable log: the first time (index,
// term) is seen anywhere, its content and the term of its predecessor are recorded; every later
// copy on any node must agree on both. By induction on the index, equal predecessors' terms at
// every step mean equal prefixes. Terms along one log never decrease (a leader only appends
// entries of its own, highest, term).
import { SimViolation } from '../violation.js';

interface Seen {
  fingerprint: string;
  prevTerm: number | undefined;
  node: string;
}

export class LogMatching {
  static readonly checker = 'log-matching';
  private readonly seen = new Map<string, Seen>();

  /**
   * `prevTerm` is the term of the entry at index-1 in the same log (0 at index 1), or undefined
   * when that entry was compacted away.
   */
  observeStored(node: string, index: number, term: number, fingerprint: string, prevTerm: number | undefined): void {
    if (prevTerm !== undefined && term < prevTerm) {
      throw new SimViolation(
        LogMatching.checker,
        `${node}: entry ${index} has term ${term}, lower than its predecessor's ${prevTerm}`,
      );
    }
    const key = `${index}:${term}`;
    const known = this.seen.get(key);
    if (known === undefined) {
      this.seen.set(key, { fingerprint, prevTerm, node });
      return;
    }
    if (known.fingerprint !== fingerprint) {
      throw new SimViolation(
        LogMatching.checker,
        `entry (index ${index}, term ${term}) differs: ${known.node} has ${known.fingerprint}, ${node} has ${fingerprint}`,
      );
    }
    if (prevTerm !== undefined && known.prevTerm !== undefined && prevTerm !== known.prevTerm) {
      throw new SimViolation(
        LogMatching.checker,
        `entry (index ${index}, term ${term}) follows term ${known.prevTerm} on ${known.node} but term ${prevTerm} on ${node}`,
      );
    }
    if (known.prevTerm === undefined && prevTerm !== undefined) known.prevTerm = prevTerm;
  }
}
