// Errors the node raises towards clients, as typed classes with stable codes. One place
// (http/errors.ts) maps them to HTTP statuses and the JSON error shape of the design:
// {"error": {"code", "message", ...details}}.

export abstract class ConfluxError extends Error {
  abstract readonly code: string;
  /** Extra fields for the JSON body. */
  details(): Record<string, unknown> {
    return {};
  }
}

/** This node is not the leader; `leaderId`/`leaderClientURL` say where to go (null: unknown). */
export class NotLeaderError extends ConfluxError {
  readonly code = 'not_leader';
  constructor(
    readonly leaderId: string | null,
    readonly leaderClientURL: string | null,
  ) {
    super(leaderId ? `not the leader; the leader is ${leaderId}` : 'not the leader, and no leader is known');
  }
  override details() {
    return { leaderId: this.leaderId, leaderURL: this.leaderClientURL };
  }
}

/** No leader was known within the wait bound. Nothing was proposed: retrying is safe (503). */
export class NoLeaderError extends ConfluxError {
  readonly code = 'no_leader';
  constructor(readonly retryAfterSeconds = 1) {
    super('no leader is known (election in progress); retry shortly');
  }
}

/** The node is not a ready member (joining, catching up, shutting down). Retrying is safe (503). */
export class NotReadyError extends ConfluxError {
  readonly code = 'not_ready';
  constructor(message = 'this node is not ready to serve') {
    super(message);
  }
}

/** Too many proposals or reads waiting. Nothing was proposed: retrying is safe (503). */
export class OverloadedError extends ConfluxError {
  readonly code = 'overloaded';
  constructor(message = 'too many requests in flight; retry shortly') {
    super(message);
  }
}

/**
 * The write would grow the live data past the node's quota (`--quota-bytes`). Nothing was
 * proposed; deletes, and writes that shrink a value, still pass (507).
 */
export class QuotaExceededError extends ConfluxError {
  readonly code = 'quota_exceeded';
  constructor(
    readonly quotaBytes: number,
    readonly liveBytes: number,
    readonly growthBytes: number,
  ) {
    super(`the store holds ${liveBytes} bytes of live data; this write would add ${growthBytes} more, past the quota of ${quotaBytes}: delete keys, or raise --quota-bytes`);
  }
  override details() {
    return { quotaBytes: this.quotaBytes, liveBytes: this.liveBytes };
  }
}

/**
 * A proposal was made (or forwarded) but its fate is unknown: the leader changed or a deadline
 * passed before the entry was known committed or lost. It may still be applied (504).
 */
export class OutcomeUnknownError extends ConfluxError {
  readonly code = 'outcome_unknown';
  constructor(message = 'the write was proposed but its outcome is unknown; it may still be applied') {
    super(message);
  }
}

/**
 * The proposal's log slot was taken by another leader's entry: it is known never to be applied.
 * Retrying is safe (503).
 */
export class ProposalDroppedError extends ConfluxError {
  readonly code = 'leader_changed';
  constructor() {
    super('leadership changed before the write committed; it was not applied and is safe to retry');
  }
}

/** A membership change is already in flight (409). */
export class ChangeInProgressError extends ConfluxError {
  readonly code = 'change_in_progress';
  constructor(message = 'another membership change is in progress') {
    super(message);
  }
}

/** A learner is too far behind to be promoted (409). */
export class NotCaughtUpError extends ConfluxError {
  readonly code = 'not_caught_up';
  constructor(
    message: string,
    readonly lag: number,
  ) {
    super(message);
  }
  override details() {
    return { lag: this.lag };
  }
}

/** The request conflicts with the node's state, e.g. bootstrap of a node that has state (409). */
export class ConflictError extends ConfluxError {
  readonly code = 'conflict';
}

/** The request names a member that does not exist (404). */
export class UnknownMemberError extends ConfluxError {
  readonly code = 'unknown_member';
}

/** Bad input the node refuses (400). */
export class BadRequestError extends ConfluxError {
  readonly code: string;
  constructor(message: string, code = 'bad_request') {
    super(message);
    this.code = code;
  }
}

/**
 * Storage failed (disk error, corruption found at run time): the node can no longer be trusted to
 * persist. Readiness goes false and the process shuts down.
 */
export class FatalError extends ConfluxError {
  readonly code = 'fatal';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
