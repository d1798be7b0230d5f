// The revisioned key/value state: MVCC history per key, the revision -> change log, and the
// commands' semantics. Pure and synchronous; `KvStore` adds the Raft boundary around it.
//
// Invariants:
// - Every successful put/delete/rollback creates exactly one record with modRevision =
//   ++revision, so revision r <-> one change of one key.
// - `histories.get(key)` is non-empty, ordered by modRevision. Arrays are appended to in place but
//   never otherwise mutated (compaction replaces them with a slice): a snapshot that captured
//   (array, length) keeps seeing exactly that prefix.
// - `changes[i]` is the record of revision `changesBase + i`, for every revision in
//   [changesBase, revision]; changesBase = max(1, compactedRevision).
// - `changeLogBytes` is the sum of `recordBytes` over `changes` (the retention policy's byte bound);
//   `liveBytes` the sum over the live keys' current records (the quota).
// - `all` holds the keys of `histories`; `live` the keys whose last record is not a tombstone.
// - Compaction at R keeps, for each key, the newest record with modRevision <= R (unless it is a
//   tombstone older than R) and everything after: reads at any revision >= R are exact, and the
//   change log still holds revision R itself, so watches can start at R.
import type { Command, CompactCommand, DeleteCommand, PutCommand, RollbackCommand } from './commands.js';
import { CompactedError, FutureRevisionError, InvalidArgumentError } from './errors.js';
import { compareKeys, validateKey, validatePrefix } from './keys.js';
import { SortedKeySet } from './sorted-keys.js';
import type {
  ChangeRecord,
  CommandFailure,
  CommandResult,
  HistoryItem,
  KeyValue,
  ListItem,
  ListOptions,
  ListResult,
} from './types.js';

const EMPTY = new Uint8Array(0);

export class MvccState {
  revision = 0;
  compactedRevision = 0;
  readonly histories = new Map<string, ChangeRecord[]>();
  readonly all = new SortedKeySet();
  readonly live = new SortedKeySet();
  changes: ChangeRecord[] = [];
  changesBase = 1;
  changeLogBytes = 0;
  liveBytes = 0;

  // ---- commands -------------------------------------------------------------------------------

  execute(cmd: Command): CommandResult {
    switch (cmd.type) {
      case 'put':
        return this.put(cmd);
      case 'delete':
        return this.delete(cmd);
      case 'rollback':
        return this.rollback(cmd);
      case 'compact':
        return this.compact(cmd);
    }
  }

  private current(key: string): ChangeRecord | null {
    const h = this.histories.get(key);
    if (h === undefined) return null;
    const last = h[h.length - 1] as ChangeRecord;
    return last.deleted ? null : last;
  }

  /** The precondition failure for `ifMatch`, or null when it holds (or is absent). */
  private checkIfMatch(
    key: string,
    current: ChangeRecord | null,
    ifMatch: number | undefined,
  ): CommandResult | null {
    if (ifMatch === undefined || (current !== null && current.modRevision === ifMatch)) return null;
    return {
      ok: false,
      code: 'precondition_failed',
      key,
      revision: this.revision,
      modRevision: current?.modRevision ?? null,
      message:
        current === null
          ? `If-Match ${ifMatch}: key does not exist`
          : `If-Match ${ifMatch}: key's modRevision is ${current.modRevision}`,
    };
  }

  private put(cmd: PutCommand): CommandResult {
    const current = this.current(cmd.key);
    if (cmd.ifNoneMatch === true && current !== null) {
      return {
        ok: false,
        code: 'precondition_failed',
        key: cmd.key,
        revision: this.revision,
        modRevision: current.modRevision,
        message: `If-None-Match: key exists with modRevision ${current.modRevision}`,
      };
    }
    const failed = this.checkIfMatch(cmd.key, current, cmd.ifMatchModRevision);
    if (failed !== null) return failed;
    return { ok: true, type: 'put', ...this.written(current, this.write(cmd.key, current, cmd.value, cmd.contentType)) };
  }

  private delete(cmd: DeleteCommand): CommandResult {
    const current = this.current(cmd.key);
    // Preconditions before the method's own semantics (RFC 9110 §13.2.2): with If-Match, an
    // absent key is a failed precondition (412), without it a 404.
    const failed = this.checkIfMatch(cmd.key, current, cmd.ifMatchModRevision);
    if (failed !== null) return failed;
    if (current === null) {
      return {
        ok: false,
        code: 'not_found',
        key: cmd.key,
        revision: this.revision,
        message: 'key does not exist',
      };
    }
    const tombstone: ChangeRecord = {
      key: cmd.key,
      modRevision: this.revision + 1,
      createRevision: 0,
      version: 0,
      contentType: '',
      value: EMPTY,
      deleted: true,
    };
    this.append(tombstone);
    this.live.delete(cmd.key);
    return { ok: true, type: 'delete', key: cmd.key, revision: this.revision };
  }

  private rollback(cmd: RollbackCommand): CommandResult {
    const current = this.current(cmd.key);
    const failed = this.checkIfMatch(cmd.key, current, cmd.ifMatchModRevision);
    if (failed !== null) return failed;
    const then = this.rollbackSource(cmd);
    if ('ok' in then) return then;
    return { ok: true, type: 'rollback', ...this.written(current, this.write(cmd.key, current, then.value, then.contentType)), toRevision: cmd.toRevision };
  }

  /** What a put or rollback answers about the version it wrote (`current`: the one it replaced). */
  private written(current: ChangeRecord | null, rec: ChangeRecord) {
    return {
      key: rec.key,
      revision: this.revision,
      created: current === null,
      createRevision: rec.createRevision,
      modRevision: rec.modRevision,
      version: rec.version,
    };
  }

  /** The version a rollback brings back, or why it cannot (the If-Match check aside). */
  private rollbackSource(cmd: RollbackCommand): ChangeRecord | CommandFailure {
    const n = cmd.toRevision;
    if (n > this.revision) {
      return {
        ok: false,
        code: 'future_revision',
        revision: this.revision,
        requestedRevision: n,
        message: `revision ${n} is in the future; the current revision is ${this.revision}`,
      };
    }
    if (n < this.compactedRevision) {
      return {
        ok: false,
        code: 'compacted',
        key: cmd.key,
        revision: this.revision,
        compactedRevision: this.compactedRevision,
        message: `revision ${n} is compacted; the oldest readable revision is ${this.compactedRevision}`,
      };
    }
    const then = this.recordAt(cmd.key, n);
    if (then === null || then.deleted) {
      return {
        ok: false,
        code: 'not_found',
        key: cmd.key,
        revision: this.revision,
        message: `key did not exist at revision ${n}`,
      };
    }
    return then;
  }

  private write(
    key: string,
    current: ChangeRecord | null,
    value: Uint8Array,
    contentType: string,
  ): ChangeRecord {
    const modRevision = this.revision + 1;
    const rec: ChangeRecord = {
      key,
      modRevision,
      createRevision: current === null ? modRevision : current.createRevision,
      version: current === null ? 1 : current.version + 1,
      contentType,
      value,
      deleted: false,
    };
    this.append(rec);
    if (current === null) this.live.insert(key);
    return rec;
  }

  private append(rec: ChangeRecord): void {
    const h = this.histories.get(rec.key);
    const before = h?.[h.length - 1];
    if (before !== undefined && !before.deleted) this.liveBytes -= recordBytes(before);
    if (!rec.deleted) this.liveBytes += recordBytes(rec);
    if (h === undefined) {
      this.histories.set(rec.key, [rec]);
      this.all.insert(rec.key);
    } else {
      h.push(rec);
    }
    this.changes.push(rec);
    this.changeLogBytes += recordBytes(rec);
    this.revision = rec.modRevision;
  }

  /**
   * Installs a change log read back from a snapshot (`changes[i]` is revision `base + i`), once
   * `histories` is complete; recounts both byte totals.
   */
  setChangeLog(changes: ChangeRecord[], base: number): void {
    this.changes = changes;
    this.changesBase = base;
    this.changeLogBytes = changes.reduce((sum, rec) => sum + recordBytes(rec), 0);
    this.liveBytes = 0;
    for (const h of this.histories.values()) {
      const last = h[h.length - 1] as ChangeRecord;
      if (!last.deleted) this.liveBytes += recordBytes(last);
    }
  }

  /**
   * By how many bytes `cmd` would grow the live data if it succeeded (negative when it shrinks
   * it, 0 when it would fail): what a quota checks before a write is proposed.
   */
  liveGrowthOf(cmd: Command): number {
    if (cmd.type === 'compact') return 0;
    const current = this.current(cmd.key);
    const was = current === null ? 0 : recordBytes(current);
    switch (cmd.type) {
      case 'put':
        return sizeOf(cmd.key, cmd.value, cmd.contentType) - was;
      case 'rollback': {
        const then = this.rollbackSource(cmd);
        return 'ok' in then ? 0 : sizeOf(cmd.key, then.value, then.contentType) - was;
      }
      case 'delete':
        return 0 - was;
    }
  }

  private compact(cmd: CompactCommand): CommandResult {
    const r = cmd.revision;
    if (r > this.revision) {
      return {
        ok: false,
        code: 'future_revision',
        revision: this.revision,
        requestedRevision: r,
        message: `cannot compact at ${r}: the current revision is ${this.revision}`,
      };
    }
    // Idempotent: the retention policy may propose a revision that is already compacted.
    if (r > this.compactedRevision) this.compactTo(r);
    return {
      ok: true,
      type: 'compact',
      revision: this.revision,
      compactedRevision: this.compactedRevision,
    };
  }

  /**
   * Only keys changed in [changesBase, r] can hold droppable records: anything superseded at or
   * before the previous compaction point is already gone. So the cost is O(changes dropped), not
   * O(keys).
   */
  private compactTo(r: number): void {
    const touched = new Set<string>();
    const end = r - this.changesBase; // inclusive index of revision r
    for (let i = 0; i <= end; i++) touched.add((this.changes[i] as ChangeRecord).key);
    for (const key of touched) {
      const h = this.histories.get(key) as ChangeRecord[];
      let keepFrom = upperBoundByRevision(h, r) - 1;
      const newest = h[keepFrom] as ChangeRecord | undefined;
      if (newest === undefined) continue;
      // A tombstone older than r says nothing a read at >= r needs; one at r is the event of r.
      if (newest.deleted && newest.modRevision < r) keepFrom++;
      if (keepFrom <= 0) continue;
      if (keepFrom >= h.length) {
        this.histories.delete(key);
        this.all.delete(key);
      } else {
        this.histories.set(key, h.slice(keepFrom));
      }
    }
    for (let i = 0; i < end; i++) this.changeLogBytes -= recordBytes(this.changes[i] as ChangeRecord);
    this.changes = this.changes.slice(r - this.changesBase);
    this.changesBase = r;
    this.compactedRevision = r;
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** The record of `key` in effect at revision `at` (may be a tombstone), or null. */
  recordAt(key: string, at: number): ChangeRecord | null {
    const h = this.histories.get(key);
    if (h === undefined) return null;
    const i = upperBoundByRevision(h, at) - 1;
    return i >= 0 ? (h[i] as ChangeRecord) : null;
  }

  /** Throws unless `at` is a readable revision. */
  checkReadRevision(at: number, field = 'revision'): void {
    if (!Number.isSafeInteger(at) || at < 1) {
      throw new InvalidArgumentError(field, `${field} must be a positive integer, got ${String(at)}`);
    }
    if (at > this.revision) throw new FutureRevisionError(at, this.revision);
    if (at < this.compactedRevision) throw new CompactedError(at, this.compactedRevision);
  }

  get(key: string, atRevision?: number): KeyValue | null {
    validateKey(key);
    let rec: ChangeRecord | null;
    if (atRevision === undefined) {
      rec = this.current(key);
    } else {
      this.checkReadRevision(atRevision);
      rec = this.recordAt(key, atRevision);
    }
    if (rec === null || rec.deleted) return null;
    return {
      key,
      value: rec.value,
      contentType: rec.contentType,
      createRevision: rec.createRevision,
      modRevision: rec.modRevision,
      version: rec.version,
    };
  }

  list(options: ListOptions): ListResult {
    const prefix = options.prefix ?? '';
    validatePrefix(prefix);
    if (options.after !== undefined) validatePrefix(options.after, 'after');
    const limit = options.limit;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError('limit', `limit must be a positive integer, got ${String(limit)}`);
    }
    // Keys with a prefix are contiguous in byte order, starting at the prefix itself; an `after`
    // past that range simply yields nothing.
    const keys =
      options.after !== undefined && compareKeys(options.after, prefix) >= 0
        ? this.live.from(options.after, true)
        : this.live.from(prefix);
    const items: ListItem[] = [];
    let more = false;
    for (const key of keys) {
      if (!key.startsWith(prefix)) break;
      if (items.length === limit) {
        more = true;
        break;
      }
      const rec = this.current(key) as ChangeRecord;
      const item: ListItem = {
        key,
        createRevision: rec.createRevision,
        modRevision: rec.modRevision,
        version: rec.version,
        contentType: rec.contentType,
      };
      if (options.keysOnly !== true) item.value = rec.value;
      items.push(item);
    }
    return { revision: this.revision, items, more };
  }

  history(key: string): HistoryItem[] {
    validateKey(key);
    const h = this.histories.get(key);
    if (h === undefined) return [];
    const out: HistoryItem[] = [];
    for (let i = h.length - 1; i >= 0; i--) {
      const rec = h[i] as ChangeRecord;
      out.push({
        modRevision: rec.modRevision,
        createRevision: rec.createRevision,
        version: rec.version,
        contentType: rec.contentType,
        value: rec.value,
        deleted: rec.deleted,
      });
    }
    return out;
  }

  /** Oldest revision whose change is still in the log (watches can start there). */
  firstRetainedRevision(): number {
    return this.changesBase;
  }

  /**
   * The oldest revision R at which a compaction leaves the change log holding at most `maxBytes`
   * (the records of R and after); the current revision when even its own record is larger.
   * Walks from the oldest record, so the cost is the number of records that would be dropped.
   */
  compactionPointForBytes(maxBytes: number): number {
    let bytes = this.changeLogBytes;
    let r = this.changesBase;
    while (bytes > maxBytes && r < this.revision) {
      bytes -= recordBytes(this.changeAt(r));
      r++;
    }
    return Math.min(r, this.revision);
  }

  /** The change of revision `r`, for r in [firstRetainedRevision(), revision]. */
  changeAt(r: number): ChangeRecord {
    const rec = this.changes[r - this.changesBase];
    if (rec === undefined) throw new RangeError(`revision ${r} is not in the change log`);
    return rec;
  }
}

/**
 * What a record costs the change log, roughly as it is held in memory and written to snapshots:
 * its value, its key and content type, and a fixed share for the record itself.
 */
export function recordBytes(rec: ChangeRecord): number {
  return sizeOf(rec.key, rec.value, rec.contentType);
}

function sizeOf(key: string, value: Uint8Array, contentType: string): number {
  return value.byteLength + key.length + contentType.length + RECORD_OVERHEAD_BYTES;
}
const RECORD_OVERHEAD_BYTES = 64;

/** Index of the first record with modRevision > r. */
function upperBoundByRevision(h: ChangeRecord[], r: number): number {
  let lo = 0;
  let hi = h.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((h[mid] as ChangeRecord).modRevision <= r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
