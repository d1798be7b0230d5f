// The store's public data shapes: what the HTTP layer reads and what `apply` returns.
//
// Byte arrays handed out (values) are the store's own, shared with its history: callers must not
// mutate them. Copying every read would double the cost of the hot GET path for no safety gain
// inside one process.

/**
 * One retained version of a key, immutable once created. A delete is a tombstone record:
 * `deleted: true`, `version` 0, `createRevision` 0, `contentType` '' and an empty value (the etcd
 * convention for delete events).
 */
export interface ChangeRecord {
  readonly key: string;
  /** The revision that created this record; unique across the store. */
  readonly modRevision: number;
  readonly createRevision: number;
  readonly version: number;
  readonly contentType: string;
  readonly value: Uint8Array;
  readonly deleted: boolean;
}

/** A live key as read by GET. */
export interface KeyValue {
  key: string;
  value: Uint8Array;
  contentType: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

export interface ListOptions {
  /** Only keys starting with this string ('' or absent: every key). */
  prefix?: string;
  /** Exclusive: start strictly after this key in byte order (paging). */
  after?: string;
  /** Maximum items, a positive integer; the server caps it. */
  limit: number;
  /** Omit values. */
  keysOnly?: boolean;
}

export interface ListItem {
  key: string;
  createRevision: number;
  modRevision: number;
  version: number;
  contentType: string;
  /** Absent when `keysOnly`. */
  value?: Uint8Array;
}

export interface ListResult {
  /** Store revision the listing reflects. */
  revision: number;
  items: ListItem[];
  /** True when more keys match after the last item: page on with `after = last.key`. */
  more: boolean;
}

export interface HistoryItem {
  modRevision: number;
  createRevision: number;
  version: number;
  contentType: string;
  value: Uint8Array;
  deleted: boolean;
}

/** Outcome of one `normal` entry. `revision` is the store revision after the entry. */
export type CommandResult = CommandSuccess | CommandFailure;

export type CommandSuccess =
  | {
      ok: true;
      type: 'put';
      key: string;
      revision: number;
      /** 201 vs 200: the key did not exist (or was deleted) before. */
      created: boolean;
      createRevision: number;
      modRevision: number;
      version: number;
    }
  | {
      ok: true;
      type: 'rollback';
      key: string;
      revision: number;
      created: boolean;
      createRevision: number;
      modRevision: number;
      version: number;
      toRevision: number;
    }
  | { ok: true; type: 'delete'; key: string; revision: number }
  | {
      ok: true;
      type: 'compact';
      revision: number;
      /** Oldest readable revision after the command (unchanged if it asked for less). */
      compactedRevision: number;
    };

export type CommandFailureCode =
  | 'precondition_failed'
  | 'not_found'
  | 'compacted'
  | 'future_revision'
  | 'invalid_command';

export type CommandFailure =
  | {
      ok: false;
      code: 'precondition_failed';
      key: string;
      revision: number;
      /** The key's current modRevision (the ETag to retry with), null if it does not exist. */
      modRevision: number | null;
      message: string;
    }
  | { ok: false; code: 'not_found'; key: string; revision: number; message: string }
  | {
      ok: false;
      code: 'compacted';
      key: string;
      revision: number;
      compactedRevision: number;
      message: string;
    }
  | {
      ok: false;
      code: 'future_revision';
      revision: number;
      requestedRevision: number;
      message: string;
    }
  | { ok: false; code: 'invalid_command'; revision: number; message: string };
