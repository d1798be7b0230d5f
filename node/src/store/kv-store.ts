// The configuration store as Raft's state machine: applies committed entries to the MVCC state,
// serves reads without Raft, snapshots and restores, and feeds the watch hub.
import type { Entry, SnapshotMeta } from '../raft/types.js';
import type { ApplyResult, StateMachine } from '../storage/state-machine.js';
import type { ImageInfo } from './backup-format.js';
import { decodeCommand, type Command } from './commands.js';
import { ApplyOrderError, InvalidCommandError, SnapshotMetaMismatchError } from './errors.js';
import { MvccState } from './mvcc.js';
import { decodeImage } from './snapshot-reader.js';
import { captureImage, encodeImage } from './snapshot-writer.js';
import type {
  ChangeRecord,
  CommandResult,
  HistoryItem,
  KeyValue,
  ListOptions,
  ListResult,
} from './types.js';

/** What one `apply` batch changed, for the watch hub. */
export interface AppliedChanges {
  /** Revisions firstRevision..lastRevision were created (none when first > last). */
  firstRevision: number;
  lastRevision: number;
  /** The batch moved the compaction point; changes below `firstRetainedRevision()` are gone. */
  compacted: boolean;
}

export interface StoreListener {
  /** Called once after each `apply` that changed something, before `apply` returns. */
  applied(changes: AppliedChanges): void;
  /** Called after `restore` swapped the state. */
  restored(): void;
}

/** The read side the watch hub needs; `KvStore` implements it. */
export interface ChangeFeed {
  revision(): number;
  firstRetainedRevision(): number;
  /** The change of revision `r`, for r in [firstRetainedRevision(), revision()]. */
  changeAt(r: number): ChangeRecord;
  subscribe(listener: StoreListener): () => void;
}

export class KvStore implements StateMachine<CommandResult>, ChangeFeed {
  private state = new MvccState();
  private applied = 0;
  private readonly listeners = new Set<StoreListener>();

  /**
   * Applies committed entries. Never throws for a bad command (that is an `invalid_command`
   * result, the same on every node); throws `ApplyOrderError`, before applying anything, if the
   * batch does not continue exactly at `appliedIndex() + 1`.
   */
  apply(entries: Entry[]): ApplyResult<CommandResult>[] {
    let expected = this.applied + 1;
    for (const e of entries) {
      if (e.index !== expected) throw new ApplyOrderError(expected, e.index);
      expected++;
    }
    const state = this.state;
    const firstRevision = state.revision + 1;
    const compactedBefore = state.compactedRevision;
    const results: ApplyResult<CommandResult>[] = [];
    for (const e of entries) {
      this.applied = e.index;
      results.push(e.kind === 'normal' ? this.applyCommand(e.data) : null);
    }
    const compacted = state.compactedRevision !== compactedBefore;
    if (state.revision >= firstRevision || compacted) {
      const changes: AppliedChanges = { firstRevision, lastRevision: state.revision, compacted };
      for (const l of this.listeners) l.applied(changes);
    }
    return results;
  }

  private applyCommand(data: Uint8Array): CommandResult {
    let cmd;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      if (!(err instanceof InvalidCommandError)) throw err;
      return { ok: false, code: 'invalid_command', revision: this.state.revision, message: err.message };
    }
    return this.state.execute(cmd);
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** Revision of the last change (0 for an empty store). */
  revision(): number {
    return this.state.revision;
  }

  /** Oldest revision reads can ask for (0: nothing was ever compacted). */
  compactedRevision(): number {
    return this.state.compactedRevision;
  }

  /** Oldest revision whose change event is retained: the earliest `fromRevision` of a watch. */
  firstRetainedRevision(): number {
    return this.state.firstRetainedRevision();
  }

  /** What the retained change log holds, in bytes (values, keys and a share per record). */
  historyBytes(): number {
    return this.state.changeLogBytes;
  }

  /** What the live keys' current versions hold, in bytes (values, keys and a share per key). */
  liveBytes(): number {
    return this.state.liveBytes;
  }

  /** By how many bytes `command` would grow the live data if it succeeded (see the quota). */
  liveGrowthOf(command: Command): number {
    return this.state.liveGrowthOf(command);
  }

  /** The oldest revision a compaction may keep for the change log to hold at most `maxBytes`. */
  compactionPointForBytes(maxBytes: number): number {
    return this.state.compactionPointForBytes(maxBytes);
  }

  /**
   * The live key, or null if absent; with `atRevision`, the key as of that revision (null if it
   * did not exist then, including at the revision of its delete). Throws `InvalidKeyError`,
   * `InvalidArgumentError`, `CompactedError` (below `compactedRevision()`) or
   * `FutureRevisionError` (above `revision()`).
   */
  get(key: string, atRevision?: number): KeyValue | null {
    return this.state.get(key, atRevision);
  }

  /** Live keys in UTF-8 byte order. Throws `InvalidArgumentError` for a bad prefix/after/limit. */
  list(options: ListOptions): ListResult {
    return this.state.list(options);
  }

  /** Retained versions, newest first, deletes included; [] for an unknown key. */
  history(key: string): HistoryItem[] {
    return this.state.history(key);
  }

  /** Number of live keys. */
  keyCount(): number {
    return this.state.live.size;
  }

  changeAt(r: number): ChangeRecord {
    return this.state.changeAt(r);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A deterministic image of the state as of this call (captured before returning, so applies
   * that run while the stream is consumed do not show). `meta.index` must equal `appliedIndex()`:
   * build the meta from it. Throws `SnapshotMetaMismatchError` otherwise.
   */
  snapshot(meta: SnapshotMeta): AsyncIterable<Uint8Array> {
    if (meta.index !== this.applied) {
      throw new SnapshotMetaMismatchError(
        `snapshot meta index ${meta.index} differs from the applied index ${this.applied}`,
      );
    }
    const img = captureImage(this.state, meta.index, meta.term);
    return { [Symbol.asyncIterator]: () => encodeImage(img) };
  }

  /**
   * Like `snapshot`, with the counts of the captured image (a backup's header states them before
   * the image). Captured before returning; the same meta rule applies.
   */
  image(meta: SnapshotMeta): { info: ImageInfo; chunks: AsyncIterable<Uint8Array> } {
    if (meta.index !== this.applied) {
      throw new SnapshotMetaMismatchError(`image meta index ${meta.index} differs from the applied index ${this.applied}`);
    }
    const img = captureImage(this.state, meta.index, meta.term);
    const info: ImageInfo = {
      index: img.index,
      term: img.term,
      revision: img.revision,
      compactedRevision: img.compactedRevision,
      liveKeys: this.state.live.size,
      keysWithHistory: img.keys.length,
      records: img.recordCount,
    };
    return { info, chunks: { [Symbol.asyncIterator]: () => encodeImage(img) } };
  }

  /**
   * Replaces the whole state by an image from `snapshot`. The image is parsed into a new state
   * and swapped in only when complete and valid; on any failure the old state stays and the
   * promise rejects (`SnapshotCorruptError` for a bad image). Do not `apply` while it runs.
   * Watchers are cancelled with reason `restored`.
   */
  async restore(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const next = await decodeImage(meta, chunks);
    this.state = next;
    this.applied = meta.index;
    for (const l of this.listeners) l.restored();
  }
}
