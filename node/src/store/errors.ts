// Typed errors of the configuration store. Every class carries a stable `code` that the HTTP
// layer maps to a status in one place; messages are for humans and may change.
//
// Expected outcomes of applying a command (precondition failed, not found, ...) are NOT errors:
// they are `CommandResult` values, because every node must reach the same outcome. These classes
// are thrown by the read API, the codecs, snapshots and watches, and by broken driver invariants.

export type StoreErrorCode =
  | 'invalid_key'
  | 'invalid_argument'
  | 'invalid_command'
  | 'compacted'
  | 'future_revision'
  | 'apply_out_of_order'
  | 'snapshot_meta_mismatch'
  | 'snapshot_corrupt'
  | 'watch_cancelled';

export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Why a key was refused; stable, so clients and tests can branch on it. */
export type InvalidKeyReason =
  | 'empty'
  | 'too_long'
  | 'nul'
  | 'invalid_utf8'
  | 'empty_segment'
  | 'dot_segment';

/** Thrown when a key breaks the rules of design section 3 ("Keys and values"). HTTP 400. */
export class InvalidKeyError extends StoreError {
  readonly code = 'invalid_key';

  constructor(
    readonly reason: InvalidKeyReason,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown when a read or watch argument (prefix, limit, revision, ...) is unusable. HTTP 400. */
export class InvalidArgumentError extends StoreError {
  readonly code = 'invalid_argument';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Thrown by `encodeCommand` for a command that must not be proposed, and by `decodeCommand` for
 * bytes that are not a well-formed command. The decoder throws nothing else.
 */
export class InvalidCommandError extends StoreError {
  readonly code = 'invalid_command';
}

/** Thrown when a read asks for a revision whose history was compacted away. HTTP 410. */
export class CompactedError extends StoreError {
  readonly code = 'compacted';

  constructor(
    readonly requestedRevision: number,
    /** Oldest revision that can still be read. */
    readonly compactedRevision: number,
  ) {
    super(
      `revision ${requestedRevision} is compacted; the oldest readable revision is ${compactedRevision}`,
    );
  }
}

/** Thrown when a read asks for a revision the store has not reached yet. HTTP 400. */
export class FutureRevisionError extends StoreError {
  readonly code = 'future_revision';

  constructor(
    readonly requestedRevision: number,
    readonly currentRevision: number,
  ) {
    super(
      `revision ${requestedRevision} is in the future; the current revision is ${currentRevision}`,
    );
  }
}

/**
 * A driver bug: entries must be applied in log order, exactly once. Thrown before anything of the
 * offending batch is applied; the node should crash rather than continue with a diverged state.
 */
export class ApplyOrderError extends StoreError {
  readonly code = 'apply_out_of_order';

  constructor(
    readonly expectedIndex: number,
    readonly gotIndex: number,
  ) {
    super(`apply out of order: expected entry index ${expectedIndex}, got ${gotIndex}`);
  }
}

/** A driver bug: a snapshot's meta must describe exactly the applied state. */
export class SnapshotMetaMismatchError extends StoreError {
  readonly code = 'snapshot_meta_mismatch';
}

/** Thrown (as a rejection) by `restore` for a truncated, corrupt or inconsistent image. */
export class SnapshotCorruptError extends StoreError {
  readonly code = 'snapshot_corrupt';
}

export type WatchCancelReason =
  /** More undelivered events than `maxBufferedEvents`: the consumer does not keep up. */
  | 'slow_watcher'
  /** History the watcher had not consumed yet was compacted away. */
  | 'compacted'
  /** The store was replaced by a snapshot; resume from the last delivered revision + 1. */
  | 'restored';

/**
 * Ends a watch that the hub cut off. The SSE layer sends an error (or `compacted`) event and
 * closes; a client resumes with Last-Event-ID. Not thrown for `Watcher.close()`.
 */
export class WatchCancelledError extends StoreError {
  readonly code = 'watch_cancelled';

  constructor(
    readonly reason: WatchCancelReason,
    message: string,
    /** For `compacted`: the oldest revision a new watch can start from. */
    readonly oldestRevision?: number,
  ) {
    super(message);
  }
}
