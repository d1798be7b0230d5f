// Raft §5.4.3 (and Figure 3, "State Machine Safety"): if a server has applied a log entry at a
// given index to its state machine, no other server will ever apply a different log entry for
// the same index. So all nodes apply prefixes of one sequence.
//
// Checked on every apply, and on every snapshot taken or installed: a snapshot at index i must
// carry the same digest of the applied sequence (KvImage.chain) as every node that applied i.
import { SimViolation } from '../violation.js';

export class StateMachineSafety {
  static readonly checker = 'state-machine-safety';
  /** Fingerprint of the entry applied at each index, and the node that applied it first. */
  private readonly sequence = new Map<number, { fingerprint: string; node: string }>();
  /** Digest of the applied prefix through an index, as first seen. */
  private readonly chains = new Map<number, { chain: number; node: string }>();

  observeApply(node: string, index: number, fingerprint: string, chainAfter: number): void {
    const known = this.sequence.get(index);
    if (known === undefined) {
      this.sequence.set(index, { fingerprint, node });
    } else if (known.fingerprint !== fingerprint) {
      throw new SimViolation(
        StateMachineSafety.checker,
        `${node} applied ${fingerprint} at index ${index}, but ${known.node} applied ${known.fingerprint}`,
      );
    }
    this.observeChain(node, index, chainAfter, 'after applying');
  }

  observeSnapshot(node: string, index: number, chain: number, how: 'taken' | 'installed'): void {
    this.observeChain(node, index, chain, `in a snapshot ${how}`);
  }

  /** Fingerprint applied at `index`, if any node applied it. */
  appliedAt(index: number): string | undefined {
    return this.sequence.get(index)?.fingerprint;
  }

  private observeChain(node: string, index: number, chain: number, how: string): void {
    const known = this.chains.get(index);
    if (known === undefined) {
      this.chains.set(index, { chain, node });
    } else if (known.chain !== chain) {
      throw new SimViolation(
        StateMachineSafety.checker,
        `${node} ${how} at index ${index} has a different applied history than ${known.node} (digest ${chain} vs ${known.chain})`,
      );
    }
  }
}
