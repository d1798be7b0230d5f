// GET and PUT /v1/kv/{key} without express. They are nearly every request a config store serves,
// and express's per-request work (prototype swaps, the router's walk, response helpers) costs about
// as much CPU as the rest of the request. Same handlers (ClientApi.getKey/putKey), same request
// context, same error mapping as the express routes: only the dispatch differs. Anything unusual
// (another method, a request target parseurl would not take its fast path on, an auth hook that
// wants express's request) goes to the express app unchanged.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import querystring from 'node:querystring';
import type { ClientApi } from './client-api.js';
import { KV_PREFIX } from './client-api.js';
import { sendErrorResponse, toHttpError } from './errors.js';
import type { Query } from './params.js';
import { requestIdOf, startRequest } from './request-context.js';
import { isHeadersOnly, type AppContext, type HttpLogger, type HttpMetricsSink } from './types.js';

export const KV_ROUTE_LABEL = '/v1/kv/{key}';

const NO_QUERY: Query = Object.freeze(Object.create(null) as Query);

// The query strings nearly every read carries, parsed once (querystring.parse was a few per cent
// of a serializable read's CPU). Frozen: handlers only read queries.
const COMMON_QUERIES = new Map<string, Query>(
  ['consistency=serializable', 'consistency=linearizable'].map((q) => [q, Object.freeze(querystring.parse(q) as Query)]),
);

function queryOf(search: string): Query {
  // express's default query parser is querystring.parse ('simple').
  return COMMON_QUERIES.get(search) ?? (querystring.parse(search) as Query);
}

/**
 * True when `url` is an origin-form target that parseurl (express's URL parser) splits at the
 * first '?' on its fast path; with these characters it would use url.parse instead.
 */
export function isPlainTarget(url: string): boolean {
  for (let i = 1; i < url.length; i++) {
    switch (url.charCodeAt(i)) {
      case 0x09:
      case 0x0a:
      case 0x0c:
      case 0x0d:
      case 0x20:
      case 0x23:
      case 0xa0:
      case 0xfeff:
        return false;
    }
  }
  return true;
}

export interface HotKvOptions {
  ctx: AppContext;
  api: ClientApi;
  logger: HttpLogger;
  metrics: HttpMetricsSink | undefined;
  /** Everything else: the express app. */
  fallback: RequestListener;
}

export function withHotKvRoutes(o: HotKvOptions): RequestListener {
  if (!o.ctx.options.hotPath || !isHeadersOnly(o.ctx.authorize)) return o.fallback;
  const { api, logger, metrics, fallback } = o;
  return (req, res) => {
    const method = req.method;
    const url = req.url ?? '';
    // No Host: the express app answers the JSON 400 (app.ts).
    if ((method !== 'GET' && method !== 'PUT') || !url.startsWith(KV_PREFIX) || !isPlainTarget(url) || req.headers.host === undefined) {
      fallback(req, res);
      return;
    }
    // The answer sets the request id header with the others (writeAnswerHead).
    startRequest(req, res, logger, metrics, KV_ROUTE_LABEL, true);
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = method === 'GET' && q >= 0 ? queryOf(url.slice(q + 1)) : NO_QUERY;
    const serve = (): void => {
      let done: Promise<void>;
      try {
        done = method === 'GET' ? api.getKey(req, res, path, query) : api.putKey(req, res, path);
      } catch (err) {
        done = Promise.reject(err);
      }
      done.catch((err: unknown) => answerError(logger, req, res, err));
    };
    // Linearizable reads are answered together already: they wait for one read barrier.
    if (method === 'GET' && query.consistency === 'serializable') localReads.add(serve);
    else serve();
  };
}

/**
 * Serializable GETs are served together once the loop turn that read them has read everything else
 * ready. Answering each request the moment it is parsed makes the server and its clients ping-pong one
 * small batch at a time (a wake-up and an epoll round each); answering a turn's worth at once lets
 * both sides work in batches. Measured with a bare node:http server on this 2-core machine: 20,000
 * to 25,000-32,000 answers/s at 64 clients. The read is still served from the state as of that
 * moment (later, never older), and a connection's answers keep their order.
 */
class TurnBatch {
  private pending: (() => void)[] = [];
  private readonly flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    for (const run of batch) run();
  };

  add(run: () => void): void {
    if (this.pending.length === 0) setImmediate(this.flush);
    this.pending.push(run);
  }
}

const localReads = new TurnBatch();

/** What the express app's error handler does with an error a route threw. */
export function answerError(logger: HttpLogger, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const answer = toHttpError(err);
  if (!answer.expected) {
    logger.error('request failed with an unexpected error', {
      requestId: safeRequestId(res),
      method: req.method,
      error: err instanceof Error ? err.message : String(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
  }
  if (res.headersSent) {
    // Half a response is out (a stream broke): all we can do is cut it so the client notices.
    res.destroy();
    return;
  }
  sendErrorResponse(res, answer);
}

function safeRequestId(res: ServerResponse): string | undefined {
  try {
    return requestIdOf(res);
  } catch {
    return undefined;
  }
}
