// The leader's view of one follower (thesis §3.5, and etcd-raft's probe/replicate/snapshot states).
//
// - probe: we do not know where the follower's log matches ours; send one AppendEntries at a time
//   and wait for its answer (or a heartbeat answer) before the next.
// - replicate: the follower is known to match up to `match`; stream AppendEntries optimistically,
//   at most `maxInflight` in flight (a bounded pipeline).
// - snapshot: the follower needs a snapshot; nothing else is sent until it is reported done.
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Invariant: match < next. */
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: a probe is outstanding, do not send another. */
  probeSent = false;
  /** Last index of each AppendEntries in flight (replicate state), oldest first. */
  inflight: number[] = [];
  /** Index of the snapshot being sent (snapshot state). */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round (§6.2 of the thesis, "check quorum"). */
  recentActive = false;
  /** Tick of the last message received from this peer (leader leases). */
  lastHeardTick = 0;
  /** Highest ReadIndex round this peer confirmed. */
  ackedReadSeq = 0;
  /** `match` when the previous heartbeat answer arrived: no progress across a round means loss. */
  matchAtLastHeartbeat = -1;
  /** Highest commit index sent to this peer (in an append or a heartbeat). */
  commitSent = 0;

  constructor(
    next: number,
    readonly maxInflight: number,
  ) {
    this.next = next;
  }

  /** Whether the leader may send another AppendEntries now. */
  canSend(): boolean {
    switch (this.state) {
      case 'probe':
        return !this.probeSent;
      case 'replicate':
        return this.inflight.length < this.maxInflight;
      case 'snapshot':
        return false;
    }
  }

  /** Record an AppendEntries whose last entry is `last` (or an empty probe at next-1). */
  sent(last: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = last + 1;
        this.inflight.push(last);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** A successful answer. Returns true when `match` moved. */
  acked(matchIndex: number): boolean {
    let moved = false;
    if (matchIndex > this.match) {
      this.match = matchIndex;
      moved = true;
    }
    this.next = Math.max(this.next, matchIndex + 1);
    this.probeSent = false;
    while (this.inflight.length > 0 && this.inflight[0]! <= matchIndex) this.inflight.shift();
    if (this.state === 'probe') this.becomeReplicate();
    else if (this.state === 'snapshot' && this.match >= this.pendingSnapshot) this.becomeProbe();
    return moved;
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise right after what is known to match.
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.inflight = [];
    this.pendingSnapshot = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight = [];
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.inflight = [];
  }
}
