// History retention: the leader proposes `compact` through Raft so that every node drops the same
// history at the same revision (the store itself never compacts on its own: nodes must agree).
// Policy: keep the last `retainRevisions` revisions, or, with `retainMs`, every revision younger
// than that; and with `retainBytes`, never more history than that many bytes, whatever the count
// or age (the history is held in memory and written into every snapshot: 10,000 revisions of
// 1 MiB values would be 10 GB). Compactions are spaced out (each one copies the retained change log).
import type { Command, CommandResult } from '../store/index.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

export interface RetentionTarget {
  isLeader(): boolean;
  readonly store: { revision(): number; compactedRevision(): number; historyBytes(): number; compactionPointForBytes(maxBytes: number): number };
  propose(command: Command): Promise<CommandResult>;
}

export interface RetentionOptions {
  target: RetentionTarget;
  clock: Clock;
  logger: Logger;
  /** Keep at least this many of the newest revisions (count policy). */
  retainRevisions: number;
  /** Keep every revision younger than this (time policy); overrides the count policy when set. */
  retainMs?: number;
  /** At most this many bytes of history (byte policy), on top of the count or time policy. */
  retainBytes?: number;
  /** How often the leader looks. */
  intervalMs: number;
}

export class HistoryRetention {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** (revision, wall time) samples for the time policy, oldest first. */
  private samples: { revision: number; atMs: number }[] = [];

  constructor(private readonly o: RetentionOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The revision to compact to now, or null when nothing is due. */
  due(): number | null {
    const target = Math.max(this.countOrTimeTarget() ?? 0, this.bytesTarget() ?? 0);
    return target > 0 ? target : null;
  }

  private countOrTimeTarget(): number | null {
    const { store } = this.o.target;
    const revision = store.revision();
    const compacted = store.compactedRevision();
    let target: number;
    if (this.o.retainMs !== undefined) {
      const now = this.o.clock.wallMs();
      this.samples.push({ revision, atMs: now });
      const cutoff = now - this.o.retainMs;
      let found = 0;
      while (this.samples.length > 1 && this.samples[0]!.atMs <= cutoff) found = this.samples.shift()!.revision;
      target = found;
      // A compaction per interval at most, and only if it drops something.
      if (target <= compacted) return null;
    } else {
      target = revision - this.o.retainRevisions;
      // Space compactions out: wait until a tenth of the retained window has piled up beyond it.
      if (target - compacted < Math.max(1, Math.floor(this.o.retainRevisions / 10))) return null;
    }
    return target > 0 ? target : null;
  }

  private bytesTarget(): number | null {
    const { store } = this.o.target;
    const limit = this.o.retainBytes;
    if (limit === undefined || store.historyBytes() <= limit) return null;
    // Down to nine tenths of the bound, so that steady writes compact once per tenth of it rather
    // than at every look.
    const target = store.compactionPointForBytes(Math.floor(limit * 0.9));
    return target > store.compactedRevision() ? target : null;
  }

  async check(): Promise<void> {
    if (this.busy || !this.o.target.isLeader()) return;
    const target = this.due();
    if (target === null) return;
    this.busy = true;
    try {
      const r = await this.o.target.propose({ type: 'compact', revision: target });
      if (r.ok) this.o.logger.info('history compacted', { revision: target });
    } catch (err) {
      this.o.logger.debug('history compaction not proposed', { error: String(err) });
    } finally {
      this.busy = false;
    }
  }
}
