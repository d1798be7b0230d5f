// The one place where errors become HTTP responses (style point 10). Every 4xx/5xx the client
// port sends goes through `toHttpError`, so every one carries the design's JSON shape:
// {"error": {"code", "message", ...details}}. Unknown errors become a generic 500: messages of
// errors we did not type may carry paths or internals, and stacks never leave the process.
import type { ServerResponse } from 'node:http';
import {
  BadRequestError,
  ChangeInProgressError,
  ConflictError,
  ConfluxError,
  FatalError,
  NoLeaderError,
  NotCaughtUpError,
  NotLeaderError,
  NotReadyError,
  OutcomeUnknownError,
  QuotaExceededError,
  OverloadedError,
  ProposalDroppedError,
  UnknownMemberError,
} from '../errors.js';
import {
  CompactedError,
  FutureRevisionError,
  InvalidArgumentError,
  InvalidCommandError,
  InvalidKeyError,
  StoreError,
  WatchCancelledError,
} from '../../store/index.js';
import type { CommandFailure } from '../../store/index.js';
import { sendJson } from './raw.js';
import { setRequestIdHeader } from './request-context.js';

/** Seconds a client should wait before retrying a 503/429 when the error does not say. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/**
 * An error that belongs to the HTTP layer itself (bad query parameter, body too large, wrong
 * method, auth). Handlers throw it; `toHttpError` passes it through unchanged.
 */
export class HttpError extends ConfluxError {
  readonly code: string;
  constructor(
    readonly status: number,
    code: string,
    message: string,
    private readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.code = code;
  }
  override details(): Record<string, unknown> {
    return this.extra;
  }
}

/** No or unknown credentials (401). The auth feature throws it from its `authorize` hook. */
export class UnauthorizedError extends HttpError {
  constructor(message = 'a valid bearer token is required') {
    super(401, 'unauthorized', message, {}, { 'WWW-Authenticate': 'Bearer realm="conflux"' });
  }
}

/** Valid credentials that do not cover this request (403). */
export class ForbiddenError extends HttpError {
  constructor(message = 'the token does not grant access to this resource') {
    super(403, 'forbidden', message);
  }
}

export function badRequest(message: string, code = 'bad_request', extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(400, code, message, extra);
}

export function methodNotAllowed(method: string, allowed: readonly string[]): HttpError {
  return new HttpError(
    405,
    'method_not_allowed',
    `method ${method} is not allowed here`,
    { allowed: [...allowed] },
    { Allow: allowed.join(', ') },
  );
}

export function routeNotFound(method: string, path: string): HttpError {
  // The path is echoed truncated: it is attacker-controlled and may be huge.
  const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  return new HttpError(404, 'route_not_found', `no route for ${method} ${shown}`);
}

export function bodyTooLarge(limitBytes: number, what = 'request body'): HttpError {
  return new HttpError(413, 'too_large', `${what} exceeds the limit of ${limitBytes} bytes`, { limitBytes });
}

export function noLeader(message: string, retryAfterSeconds = DEFAULT_RETRY_AFTER_SECONDS): HttpError {
  return new HttpError(503, 'no_leader', message, {}, { 'Retry-After': String(retryAfterSeconds) });
}

export function outcomeUnknown(message: string): HttpError {
  return new HttpError(504, 'outcome_unknown', message);
}

/** A command that was committed but did not apply (a `CommandFailure`), as an HTTP error. */
export function commandFailureError(failure: CommandFailure): HttpError {
  switch (failure.code) {
    case 'precondition_failed':
      return new HttpError(412, 'precondition_failed', failure.message, {
        key: failure.key,
        modRevision: failure.modRevision,
        revision: failure.revision,
      });
    case 'not_found':
      return new HttpError(404, 'not_found', failure.message, { key: failure.key, revision: failure.revision });
    case 'compacted':
      return new HttpError(410, 'compacted', failure.message, {
        key: failure.key,
        compactedRevision: failure.compactedRevision,
      });
    case 'future_revision':
      return new HttpError(400, 'future_revision', failure.message, {
        requestedRevision: failure.requestedRevision,
        currentRevision: failure.revision,
      });
    case 'invalid_command':
      return new HttpError(400, 'invalid_command', failure.message);
  }
}

export interface HttpErrorResponse {
  status: number;
  body: { error: { code: string; message: string } & Record<string, unknown> };
  headers: Record<string, string>;
  /** False for errors we did not type: worth a log line with the stack. */
  expected: boolean;
}

function shape(
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  expected = true,
): HttpErrorResponse {
  // Details never override the two fields every client reads.
  return { status, body: { error: { ...details, code, message } }, headers, expected };
}

function retryAfter(seconds = DEFAULT_RETRY_AFTER_SECONDS): Record<string, string> {
  return { 'Retry-After': String(Math.max(1, Math.ceil(seconds))) };
}

export function toHttpError(err: unknown): HttpErrorResponse {
  if (err instanceof HttpError) return shape(err.status, err.code, err.message, err.details(), err.headers);
  if (err instanceof ConfluxError) return fromConfluxError(err);
  if (err instanceof StoreError) return fromStoreError(err);
  const status = httpStatusOf(err);
  if (status !== null) {
    // Errors from express and its router (malformed percent-encoding in a path parameter, ...).
    const message = (err as { expose?: unknown }).expose === true ? String((err as Error).message) : 'bad request';
    return shape(status, status === 413 ? 'too_large' : 'bad_request', message);
  }
  return shape(500, 'internal', 'internal error', {}, {}, false);
}

function fromConfluxError(err: ConfluxError): HttpErrorResponse {
  if (err instanceof NotLeaderError) {
    // Forwarding handles the usual case; reaching here means a forwarded request met a follower
    // (or the leader's URL is unknown). Nothing was proposed, so the client may retry.
    return shape(503, 'no_leader', err.message, err.details(), retryAfter());
  }
  if (err instanceof NoLeaderError) return shape(503, err.code, err.message, {}, retryAfter(err.retryAfterSeconds));
  if (err instanceof NotReadyError || err instanceof OverloadedError || err instanceof ProposalDroppedError) {
    return shape(503, err.code, err.message, err.details(), retryAfter());
  }
  if (err instanceof OutcomeUnknownError) return shape(504, err.code, err.message, err.details());
  if (err instanceof QuotaExceededError) return shape(507, err.code, err.message, err.details());
  if (err instanceof ChangeInProgressError || err instanceof NotCaughtUpError || err instanceof ConflictError) {
    return shape(409, err.code, err.message, err.details());
  }
  if (err instanceof UnknownMemberError) return shape(404, err.code, err.message, err.details());
  if (err instanceof BadRequestError) return shape(400, err.code, err.message, err.details());
  if (err instanceof FatalError) {
    // The node's own message may name files; the client only needs to know to go elsewhere.
    return shape(500, err.code, 'the node hit a fatal storage error and is shutting down', {}, {}, false);
  }
  return shape(500, 'internal', 'internal error', {}, {}, false);
}

function fromStoreError(err: StoreError): HttpErrorResponse {
  if (err instanceof InvalidKeyError) return shape(400, err.code, err.message, { reason: err.reason });
  if (err instanceof InvalidArgumentError) return shape(400, err.code, err.message, { field: err.field });
  if (err instanceof InvalidCommandError) return shape(400, err.code, err.message);
  if (err instanceof CompactedError) {
    return shape(410, err.code, err.message, {
      requestedRevision: err.requestedRevision,
      compactedRevision: err.compactedRevision,
    });
  }
  if (err instanceof FutureRevisionError) {
    return shape(400, err.code, err.message, {
      requestedRevision: err.requestedRevision,
      currentRevision: err.currentRevision,
    });
  }
  if (err instanceof WatchCancelledError) {
    return shape(503, err.code, err.message, { reason: err.reason }, retryAfter());
  }
  // apply order, snapshot meta/corruption: driver bugs, not the client's business.
  return shape(500, 'internal', 'internal error', {}, {}, false);
}

/** The 4xx status an http-errors style error (express, router) carries, or null. */
function httpStatusOf(err: unknown): number | null {
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { status?: unknown; statusCode?: unknown };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : null;
  return status !== null && Number.isInteger(status) && status >= 400 && status <= 499 ? status : null;
}

export function sendErrorResponse(res: ServerResponse, error: HttpErrorResponse): void {
  setRequestIdHeader(res);
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, error.status, error.body);
}
