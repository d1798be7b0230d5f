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
 * once the response is done.
 */
export function startRequest(req: IncomingMessage, res: ServerResponse, logger: HttpLogger, metrics: HttpMetricsSink | undefined, route: string): void {
  const started = process.hrtime.bigint();
  const offered = headerOf(req, REQUEST_ID_HEADER);
  const requestId = offered !== undefined && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
  const s: RequestState = { requestId, route };
  (res as WithState)[STATE] = s;
  res.setHeader(REQUEST_ID_HEADER, requestId);
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
