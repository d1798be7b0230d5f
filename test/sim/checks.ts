// The invariants a simulated node reports to while it runs: the cheap, incremental ones, called
// on every store, apply, snapshot and role observation (so "after every simulated step").
import type { Entry, Role, SnapshotMeta } from '../../node/src/raft/types.js';
import type { KvImage } from './kv.js';
import { ElectionSafety } from './invariants/election-safety.js';
import { IdentityCheck } from './invariants/identity.js';
import { LeaderCompleteness, type LeaderLog } from './invariants/leader-completeness.js';
import { LogMatching } from './invariants/log-matching.js';
import { StateMachineSafety } from './invariants/state-machine-safety.js';
import { SimViolation } from './violation.js';

export class Checks {
  readonly election = new ElectionSafety();
  readonly logMatching = new LogMatching();
  readonly leaderCompleteness = new LeaderCompleteness();
  readonly stateMachine = new StateMachineSafety();
  readonly identity = new IdentityCheck();
  private highestTerm = 0;

  /** A node's role and term as its core reports them; `log` is its current (in-memory) log. */
  observeRole(server: string, role: Role, term: number, log: LeaderLog): void {
    this.identity.observeTerm(server, term);
    if (term > this.highestTerm) this.highestTerm = term;
    if (role !== 'leader') return;
    this.election.observeLeader(server, term);
    this.leaderCompleteness.checkLeader(server, term, log);
  }

  /** Any term seen on the wire from a real node (bounds commit terms from above). */
  observeTerm(term: number): void {
    if (term > this.highestTerm) this.highestTerm = term;
  }

  observeStored(server: string, entry: Entry, fingerprint: string, prevTerm: number | undefined): void {
    this.logMatching.observeStored(server, entry.index, entry.term, fingerprint, prevTerm);
  }

  observeApplied(server: string, entry: Entry, fingerprint: string, chainAfter: number): void {
    this.stateMachine.observeApply(server, entry.index, fingerprint, chainAfter);
    this.leaderCompleteness.observeCommitted(entry.index, entry.term, this.highestTerm);
  }

  observeSnapshot(server: string, meta: SnapshotMeta, image: KvImage, how: 'taken' | 'installed'): void {
    if (image.index !== meta.index) {
      throw new SimViolation('driver-contract', `${server}: snapshot ${how} with meta index ${meta.index} but state at ${image.index}`);
    }
    this.stateMachine.observeSnapshot(server, meta.index, image.chain, how);
  }
}
