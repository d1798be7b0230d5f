// Per-request bookkeeping: a request id (honoured from X-Request-Id or generated, echoed back and
// passed on when forwarding), the route label used by logs and metrics, and one log line per
// request. Bodies, query strings and headers are never logged: they may carry values and tokens.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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

type WithState = Response & { [STATE]?: RequestState };

function state(res: Response): RequestState {
  const s = (res as WithState)[STATE];
  if (s === undefined) throw new Error('request context middleware is not installed');
  return s;
}

export function requestIdOf(res: Response): string {
  return state(res).requestId;
}

/** Routes call this so logs and metrics name the pattern, never the raw key. */
export function setRoute(res: Response, route: string): void {
  state(res).route = route;
}

export function markForwarded(res: Response, leaderURL: string): void {
  state(res).forwardedTo = leaderURL;
}

export function requestContext(logger: HttpLogger, metrics: HttpMetricsSink | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const offered = req.get(REQUEST_ID_HEADER);
    const requestId = offered !== undefined && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    (res as WithState)[STATE] = { requestId, route: UNMATCHED_ROUTE };
    res.setHeader(REQUEST_ID_HEADER, requestId);
    let done = false;
    const finish = (outcome: 'finished' | 'aborted'): void => {
      if (done) return;
      done = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const s = state(res);
      // A request aborted before its headers went out has no status the client saw; 499 is the
      // usual convention. A watch stream the client closes did get its 200.
      const status = outcome === 'finished' || res.headersSent ? res.statusCode : 499;
      metrics?.observeHttpRequest(s.route, req.method, status, seconds);
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
      const forwardedBy = req.get('Conflux-Forwarded-By');
      if (forwardedBy !== undefined) meta.forwardedBy = forwardedBy.slice(0, 64);
      logger[level]('http request', meta);
    };
    res.once('finish', () => finish('finished'));
    res.once('close', () => finish(res.writableFinished ? 'finished' : 'aborted'));
    next();
  };
}
