// What survives a crash: hard state, the latest snapshot (meta + image), the log after it, the
// cluster id and the incarnation. Writes reach it only when their virtual fsync completes (the
// node driver decides when); a crash loses whatever had not reached it.
import type { Entry, HardState, SnapshotMeta } from '../../node/src/raft/types.js';
import type { RaftInitialState } from '../../node/src/raft/config.js';
import type { KvImage } from './kv.js';
import { SimViolation } from './violation.js';

export interface StoredSnapshot {
  meta: SnapshotMeta;
  image: KvImage;
}

export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: StoredSnapshot | null = null;
  /** Contiguous; may start at or below the snapshot index (entries kept behind a snapshot). */
  entries: Entry[] = [];

  constructor(
    readonly nodeId: string,
    readonly incarnation: string,
    public clusterId: string,
  ) {}

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    const last = this.entries[this.entries.length - 1];
    return last !== undefined ? last.index : this.snapshotIndex();
  }

  /** Term at `index`, if still known (log, snapshot boundary, or 0 before the first entry). */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    const first = this.entries[0];
    if (first !== undefined && index >= first.index && index <= first.index + this.entries.length - 1) {
      return (this.entries[index - first.index] as Entry).term;
    }
    if (this.snapshot !== null && index === this.snapshot.meta.index) return this.snapshot.meta.term;
    return undefined;
  }

  /** A `persist` action reached stable storage (Action `persist`: suffix replaced from entries[0]). */
  writePersist(hardState: HardState | null, entries: readonly Entry[]): void {
    if (hardState !== null) this.hardState = { ...hardState };
    const first = entries[0];
    if (first === undefined) return;
    for (let i = 1; i < entries.length; i++) {
      if ((entries[i] as Entry).index !== first.index + i) {
        throw new SimViolation('driver-contract', `${this.nodeId}: persist with a hole at ${first.index + i}`);
      }
    }
    const last = this.lastIndex();
    if (first.index > last + 1) {
      throw new SimViolation('driver-contract', `${this.nodeId}: persist from ${first.index} leaves a hole after ${last}`);
    }
    const head = this.entries[0];
    if (head === undefined || first.index <= head.index) {
      this.entries = [];
    } else if (first.index <= last) {
      this.entries.length = first.index - head.index;
    }
    for (const e of entries) this.entries.push({ index: e.index, term: e.term, kind: e.kind, data: e.data });
  }

  installSnapshot(snapshot: StoredSnapshot): void {
    this.snapshot = snapshot;
    this.entries = [];
  }

  saveSnapshot(snapshot: StoredSnapshot): void {
    this.snapshot = snapshot;
  }

  compact(index: number): void {
    if (index > this.snapshotIndex()) {
      throw new SimViolation(
        'driver-contract',
        `${this.nodeId}: compact-log ${index} beyond the durable snapshot ${this.snapshotIndex()}`,
      );
    }
    const head = this.entries[0];
    if (head === undefined || index < head.index) return;
    this.entries = this.entries.slice(index - head.index + 1);
  }

  /** What a restarted node loads: only what reached this disk. */
  initialState(): RaftInitialState {
    const snapshotIndex = this.snapshotIndex();
    return {
      hardState: { ...this.hardState },
      snapshot: this.snapshot?.meta ?? null,
      entries: this.entries.filter((e) => e.index > snapshotIndex).map((e) => ({ ...e })),
      applied: snapshotIndex,
    };
  }
}
