// Watches for the SSE endpoint: replay of retained history from `fromRevision`, then live
// events, in revision order, each exactly once.
//
// A watcher holds a cursor into the store's change log, not a queue of events: the log is the one
// shared buffer, so a watcher costs O(1) memory however far behind it is. What `maxBufferedEvents`
// bounds is the lag: when more live events matching the watcher's prefix are waiting than that,
// the consumer is not keeping up and the watcher is cancelled ('slow_watcher'). A watcher whose
// unread history gets compacted away is cancelled too ('compacted'); so is every watcher when the
// store is replaced by a snapshot ('restored'). In each case the client resumes with
// Last-Event-ID and gets either the rest of the stream or a `compacted` event.
import { InvalidArgumentError, WatchCancelledError } from './errors.js';
import { validatePrefix } from './keys.js';
import type { AppliedChanges, ChangeFeed, StoreListener } from './kv-store.js';
import type { ChangeRecord } from './types.js';

export interface WatchEvent {
  /** The change's revision: the SSE `id`. */
  revision: number;
  type: 'put' | 'delete';
  key: string;
  /** Equal to `revision`. */
  modRevision: number;
  /** 0 for a delete. */
  createRevision: number;
  /** 0 for a delete. */
  version: number;
  /** '' for a delete. */
  contentType: string;
  /** Empty for a delete. Shared with the store: do not mutate. */
  value: Uint8Array;
}

export interface WatchOptions {
  /** Only keys starting with this ('' or absent: all keys). */
  prefix?: string;
  /**
   * First revision to deliver, inclusive (after Last-Event-ID R, pass R + 1). Absent: only
   * changes after the current revision.
   */
  fromRevision?: number;
  /** Cancel the watcher when more matching live events than this wait to be taken. */
  maxBufferedEvents: number;
}

export type WatchStart =
  | { kind: 'watching'; watcher: Watcher }
  /** `fromRevision` is compacted: send one `compacted` event carrying `oldestRevision`, close. */
  | { kind: 'compacted'; oldestRevision: number };

/** Default batch size of `take()` and of the async iterator. */
export const WATCH_BATCH_MAX = 512;

export class WatchHub implements StoreListener {
  private readonly watchers = new Set<Watcher>();
  /**
   * The watchers grouped by prefix: an applied batch is matched against each prefix once, and
   * only the watchers of a prefix it touched are visited (thousands of watchers on one prefix
   * used to cost a scan of the batch per watcher on every apply).
   */
  private readonly byPrefix = new Map<string, Set<Watcher>>();
  private nextId = 1;
  private readonly unsubscribe: () => void;

  constructor(private readonly feed: ChangeFeed) {
    this.unsubscribe = feed.subscribe(this);
  }

  /** Throws `InvalidArgumentError` for a bad prefix, revision or bound. */
  watch(options: WatchOptions): WatchStart {
    const prefix = options.prefix ?? '';
    validatePrefix(prefix);
    const bound = options.maxBufferedEvents;
    if (!Number.isSafeInteger(bound) || bound < 1) {
      throw new InvalidArgumentError(
        'maxBufferedEvents',
        `maxBufferedEvents must be a positive integer, got ${String(bound)}`,
      );
    }
    const head = this.feed.revision();
    const from = options.fromRevision ?? head + 1;
    if (!Number.isSafeInteger(from) || from < 1) {
      throw new InvalidArgumentError(
        'fromRevision',
        `fromRevision must be a positive integer, got ${String(from)}`,
      );
    }
    const oldest = this.feed.firstRetainedRevision();
    if (from < oldest) return { kind: 'compacted', oldestRevision: oldest };
    const watcher = new Watcher(this.nextId++, prefix, bound, from, head, this.feed, (w) => this.detach(w));
    this.watchers.add(watcher);
    let group = this.byPrefix.get(prefix);
    if (group === undefined) {
      group = new Set();
      this.byPrefix.set(prefix, group);
    }
    group.add(watcher);
    return { kind: 'watching', watcher };
  }

  /** Open watchers (for the `conflux_watchers` gauge). */
  activeCount(): number {
    return this.watchers.size;
  }

  /** Detaches from the store and ends every watcher as if its consumer had closed it. */
  close(): void {
    this.unsubscribe();
    for (const w of [...this.watchers]) w.close();
  }

  /** @internal StoreListener */
  applied(changes: AppliedChanges): void {
    if (changes.compacted) {
      const oldest = this.feed.firstRetainedRevision();
      for (const w of [...this.watchers]) w.onCompacted(oldest);
    }
    if (changes.firstRevision > changes.lastRevision) return;
    // Changes of this batch below the new compaction point are gone; every surviving watcher's
    // cursor is at or above it, so none of them needs those changes.
    const first = Math.max(changes.firstRevision, this.feed.firstRetainedRevision());
    const last = changes.lastRevision;
    for (const [prefix, group] of this.byPrefix) {
      const matching: number[] = [];
      for (let r = first; r <= last; r++) if (this.feed.changeAt(r).key.startsWith(prefix)) matching.push(r);
      // Watchers with nothing in the batch keep their cursor: they are caught up or will scan.
      if (matching.length === 0) continue;
      for (const w of [...group]) w.onChanges(matching);
    }
  }

  private detach(w: Watcher): void {
    this.watchers.delete(w);
    const group = this.byPrefix.get(w.prefix);
    if (group === undefined) return;
    group.delete(w);
    if (group.size === 0) this.byPrefix.delete(w.prefix);
  }

  /** @internal StoreListener */
  restored(): void {
    for (const w of [...this.watchers]) {
      w.cancel(
        new WatchCancelledError(
          'restored',
          'the store was replaced by a snapshot; resume from the last delivered revision',
        ),
      );
    }
  }
}

export class Watcher implements AsyncIterable<WatchEvent[]> {
  /** Next revision to examine; every matching change below it was delivered. */
  private cursor: number;
  /** Matching changes after `replayEnd` and at or after the cursor, not yet taken. */
  private pending = 0;
  private cancelled: WatchCancelledError | null = null;
  private closedByConsumer = false;
  private waiters: Array<() => void> = [];

  /** @internal created by `WatchHub.watch` */
  constructor(
    readonly id: number,
    readonly prefix: string,
    readonly maxBufferedEvents: number,
    fromRevision: number,
    /** Store revision at creation: changes up to it are replay, read straight from the log. */
    private readonly replayEnd: number,
    private readonly feed: ChangeFeed,
    private readonly detach: (w: Watcher) => void,
  ) {
    this.cursor = fromRevision;
  }

  /** The revision the next delivered event will have at least (Last-Event-ID + 1). */
  get nextRevision(): number {
    return this.cursor;
  }

  /** Live events waiting to be taken (what `maxBufferedEvents` bounds). */
  get pendingEvents(): number {
    return this.pending;
  }

  get closed(): boolean {
    return this.closedByConsumer || this.cancelled !== null;
  }

  /** Why the hub cut this watcher off, or null. */
  get cancelReason(): WatchCancelledError | null {
    return this.cancelled;
  }

  /**
   * Events available now, in revision order, at most `max`; [] when there are none (or after
   * `close()`). Throws the `WatchCancelledError` if the hub cut the watcher off.
   */
  take(max = WATCH_BATCH_MAX): WatchEvent[] {
    if (this.cancelled !== null) throw this.cancelled;
    if (this.closedByConsumer) return [];
    const head = this.feed.revision();
    const out: WatchEvent[] = [];
    while (this.cursor <= head && out.length < max) {
      if (this.cursor > this.replayEnd && this.pending === 0) {
        // Past replay, `pending` counts every matching change ahead: none, so skip the scan.
        this.cursor = head + 1;
        break;
      }
      const rec = this.feed.changeAt(this.cursor);
      if (rec.key.startsWith(this.prefix)) {
        out.push(toEvent(rec));
        if (this.cursor > this.replayEnd) this.pending--;
      }
      this.cursor++;
    }
    return out;
  }

  /** Resolves when `take()` may return events or throw, or the watcher is closed. */
  ready(): Promise<void> {
    if (this.closed || this.hasWork()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends the watch from the consumer's side (client went away). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closedByConsumer = true;
    this.detach(this);
    this.wake();
  }

  /**
   * Batches of events until closed. Ends normally after `close()`; throws the
   * `WatchCancelledError` when the hub cuts the watcher off. Leaving the loop closes the watcher.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent[], void, undefined> {
    try {
      for (;;) {
        const batch = this.take();
        if (batch.length > 0) {
          yield batch;
          continue;
        }
        if (this.closed) return;
        await this.ready();
      }
    } finally {
      this.close();
    }
  }

  private hasWork(): boolean {
    return this.cursor <= this.replayEnd || this.pending > 0;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** @internal */
  cancel(error: WatchCancelledError): void {
    if (this.closed) return;
    this.cancelled = error;
    this.detach(this);
    this.wake();
  }

  /** @internal */
  onCompacted(oldest: number): void {
    if (this.cursor >= oldest) return;
    // Caught up (past replay, no matching change ahead): only unrelated history is compacted,
    // so an idle watcher on a quiet prefix is not cut off.
    if (this.cursor > this.replayEnd && this.pending === 0) {
      this.cursor = oldest;
      return;
    }
    this.cancel(
      new WatchCancelledError(
        'compacted',
        `history from revision ${this.cursor} was compacted before it was delivered; the oldest available revision is ${oldest}`,
        oldest,
      ),
    );
  }

  /** @internal `matching`: the revisions just created under this watcher's prefix, ascending. */
  onChanges(matching: readonly number[]): void {
    let added = matching.length;
    // A watcher from a future revision does not count the changes before it.
    if (matching[0]! < this.cursor) added = matching.filter((r) => r >= this.cursor).length;
    if (added === 0) return;
    this.pending += added;
    if (this.pending > this.maxBufferedEvents) {
      this.cancel(
        new WatchCancelledError(
          'slow_watcher',
          `watcher fell ${this.pending} events behind (limit ${this.maxBufferedEvents})`,
        ),
      );
      return;
    }
    this.wake();
  }
}

function toEvent(rec: ChangeRecord): WatchEvent {
  return {
    revision: rec.modRevision,
    type: rec.deleted ? 'delete' : 'put',
    key: rec.key,
    modRevision: rec.modRevision,
    createRevision: rec.createRevision,
    version: rec.version,
    contentType: rec.contentType,
    value: rec.value,
  };
}
