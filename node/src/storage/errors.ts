// Typed storage errors with stable codes. Callers branch on `code` (or `instanceof`), never on the
// message: the message is for humans and may change. The driver turns CorruptionError,
// StorageFailedError and DataDirError into a fatal stop (the node must not serve from a store it
// cannot trust); CompactedError and UnavailableError are ordinary outcomes for the Raft core.

export type StorageErrorCode =
  | 'CONFLUX_STORAGE_COMPACTED'
  | 'CONFLUX_STORAGE_UNAVAILABLE'
  | 'CONFLUX_STORAGE_INVALID_WRITE'
  | 'CONFLUX_STORAGE_CORRUPTION'
  | 'CONFLUX_STORAGE_FAILED'
  | 'CONFLUX_STORAGE_CLOSED'
  | 'CONFLUX_DATA_DIR'
  | 'CONFLUX_SNAPSHOT_NOT_FOUND'
  | 'CONFLUX_SNAPSHOT_STALE'
  | 'CONFLUX_SNAPSHOT_OFFSET'
  | 'CONFLUX_SNAPSHOT_CHECKSUM';

export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Returned when the requested index is below the first index: it was purged behind a snapshot. */
export class CompactedError extends StorageError {
  constructor(
    readonly index: number,
    readonly firstIndex: number,
  ) {
    super('CONFLUX_STORAGE_COMPACTED', `log index ${index} is compacted (first index is ${firstIndex})`);
  }
}

/** Returned when the requested index is above the last index: the log does not hold it (yet). */
export class UnavailableError extends StorageError {
  constructor(
    readonly index: number,
    readonly lastIndex: number,
  ) {
    super('CONFLUX_STORAGE_UNAVAILABLE', `log index ${index} is unavailable (last index is ${lastIndex})`);
  }
}

/**
 * Returned when a write would break a log invariant (a hole, terms going backwards, rewriting what a
 * snapshot covers, a term or vote regressing). It is a bug in the caller; the storage is unchanged
 * and stays usable.
 */
export class InvalidWriteError extends StorageError {
  constructor(message: string) {
    super('CONFLUX_STORAGE_INVALID_WRITE', message);
  }
}

/**
 * Returned when stored data fails a check (checksum, missing entry, inconsistent records). Names
 * the directory and the index or file so that an operator knows what to restore. Fatal: the node
 * must refuse to start rather than serve damaged data.
 */
export class CorruptionError extends StorageError {
  readonly dir: string;
  readonly index: number | null;
  readonly file: string | null;

  constructor(
    where: { dir: string; index?: number; file?: string },
    detail: string,
    options?: { cause?: unknown },
  ) {
    const at = where.index !== undefined ? `, log index ${where.index}` : where.file !== undefined ? `, file ${where.file}` : '';
    super('CONFLUX_STORAGE_CORRUPTION', `data directory ${where.dir}${at}: ${detail}`, options);
    this.dir = where.dir;
    this.index = where.index ?? null;
    this.file = where.file ?? null;
  }
}

/**
 * Returned for every operation after a write failed with an I/O error. An fsync that failed may
 * have dropped dirty pages: retrying it would report success for lost data, so the storage stops.
 */
export class StorageFailedError extends StorageError {
  constructor(dir: string, cause: unknown) {
    super('CONFLUX_STORAGE_FAILED', `data directory ${dir}: storage failed and stopped accepting work: ${describe(cause)}`, {
      cause,
    });
  }
}

/** Returned for operations on a storage after close() was called. */
export class ClosedError extends StorageError {
  constructor(what: string) {
    super('CONFLUX_STORAGE_CLOSED', `${what} is closed`);
  }
}

export type DataDirProblem = 'newer_format' | 'unknown_format' | 'cluster_mismatch' | 'not_a_data_dir' | 'recovery_unfinished';

/** Returned when a data directory cannot be used by this binary or for this cluster. */
export class DataDirError extends StorageError {
  constructor(
    readonly dir: string,
    readonly problem: DataDirProblem,
    detail: string,
  ) {
    super('CONFLUX_DATA_DIR', `data directory ${dir}: ${detail}`);
  }
}

/** Returned when a snapshot asked for is no longer (or not yet) in the store. */
export class SnapshotNotFoundError extends StorageError {
  constructor(detail: string) {
    super('CONFLUX_SNAPSHOT_NOT_FOUND', detail);
  }
}

/** Returned when a snapshot older than the latest one is saved or received. */
export class StaleSnapshotError extends StorageError {
  constructor(
    readonly index: number,
    readonly latestIndex: number,
  ) {
    super('CONFLUX_SNAPSHOT_STALE', `snapshot at index ${index} is older than the latest one (index ${latestIndex})`);
  }
}

/**
 * Returned when a received chunk does not start where the previous one ended. `expectedOffset`
 * is where the sender should resume.
 */
export class SnapshotOffsetError extends StorageError {
  constructor(
    readonly offset: number,
    readonly expectedOffset: number,
  ) {
    super('CONFLUX_SNAPSHOT_OFFSET', `snapshot chunk at offset ${offset}, expected offset ${expectedOffset}`);
  }
}

/** Returned when a received snapshot's size or checksum differs from what the sender announced. */
export class SnapshotChecksumError extends StorageError {
  constructor(detail: string) {
    super('CONFLUX_SNAPSHOT_CHECKSUM', detail);
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
