// Per-request bookkeeping: a request id (honoured from X-Request-Id or generated, echoed back and
// passed on when forwarding), the route label used by logs and metrics, and one log line per
// request. Bodies, query strings and headers are never logged: they may carry values and tokens.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { headerOf } from './raw.js';
import type { HttpLogger, HttpMetricsSink } from './types.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** Label of requests no route claimed (404s): one series for all of them. */
export const UNMATCHED_ROUTE = 'unmatched';

// A client-chosen id ends up in log lines: keep it short and boring.
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

interface RequestState {
  requestId: string;
  route: string;
  /** The request id header is not set yet: the answer sets it (writeAnswerHead, setRequestIdHeader). */
  idHeaderPending: boolean;
  /** Set when the request was served by forwarding it to the leader. */
  forwardedTo?: string;
}

const STATE = Symbol('conflux.request');

type WithState = ServerResponse & { [STATE]?: RequestState };

function state(res: ServerResponse): RequestState {
  const s = (res as WithState)[STATE];
  if (s === undefined) throw new Error('request context middleware is not installed');
  return s;
}

export function requestIdOf(res: ServerResponse): string {
  return state(res).requestId;
}

/** Routes call this so logs and metrics name the pattern, never the raw key. */
export function setRoute(res: ServerResponse, route: string): void {
  state(res).route = route;
}

/**
 * Sets the request id header now if startRequest left it to the answer (the hot routes). Every
 * answer of those routes that is not written by writeAnswerHead calls this before it sets any
 * other header, so that the id comes first, as on the express routes.
 */
export function setRequestIdHeader(res: ServerResponse): void {
  const s = (res as WithState)[STATE];
  if (s?.idHeaderPending !== true) return;
  s.idHeaderPending = false;
  res.setHeader(REQUEST_ID_HEADER, s.requestId);
}

/**
 * Writes the status line and `headers` (name, value, name, value, ...). On the hot routes, where
 * no header was set before, that is node:http's array form of writeHead, with the request id
 * first: it skips setHeader's per-header bookkeeping, a tenth of the CPU of a small answer. Elsewhere
 * the headers are set one by one after those already set, as before.
 */
export function writeAnswerHead(res: ServerResponse, status: number, headers: string[]): void {
  const s = (res as WithState)[STATE];
  if (s?.idHeaderPending === true) {
    s.idHeaderPending = false;
    headers.unshift(REQUEST_ID_HEADER, s.requestId);
    res.writeHead(status, headers);
    return;
  }
  for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
  res.writeHead(status);
}

export function markForwarded(res: ServerResponse, leaderURL: string): void {
  state(res).forwardedTo = leaderURL;
}

export function requestContext(logger: HttpLogger, metrics: HttpMetricsSink | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    startRequest(req, res, logger, metrics, UNMATCHED_ROUTE);
    next();
  };
}

/**
 * The request context of one request, for the express middleware above and for the routes that
 * are served without express (hot-kv.ts): the request id header, and the metrics and log line
 * once the response is done. `deferIdHeader`: the answer sets the id header (see writeAnswerHead).
 */
export function startRequest(
  req: IncomingMessage,
  res: ServerResponse,
  logger: HttpLogger,
  metrics: HttpMetricsSink | undefined,
  route: string,
  deferIdHeader = false,
): void {
  const started = process.hrtime.bigint();
  const offered = headerOf(req, REQUEST_ID_HEADER);
  const requestId = offered !== undefined && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
  const s: RequestState = { requestId, route, idHeaderPending: deferIdHeader };
  (res as WithState)[STATE] = s;
  if (!deferIdHeader) res.setHeader(REQUEST_ID_HEADER, requestId);
  // 'close' follows 'finish' on every response (and comes alone when the client went away).
  res.once('close', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // A request aborted before its headers went out has no status the client saw; 499 is the
    // usual convention. A watch stream the client closes did get its 200.
    const status = res.writableFinished || res.headersSent ? res.statusCode : 499;
    metrics?.observeHttpRequest(s.route, req.method ?? '', status, seconds);
    const level = status >= 500 ? 'warn' : status >= 400 ? 'info' : 'debug';
    if (logger.isLevelEnabled?.(level) === false) return;
    const meta: Record<string, unknown> = {
      requestId,
      method: req.method,
      route: s.route,
      status,
      durationMs: Math.round(seconds * 1e4) / 10,
    };
    if (s.forwardedTo !== undefined) meta.forwardedTo = s.forwardedTo;
    const forwardedBy = headerOf(req, 'Conflux-Forwarded-By');
    if (forwardedBy !== undefined) meta.forwardedBy = forwardedBy.slice(0, 64);
    logger[level]('http request', meta);
  });
}
