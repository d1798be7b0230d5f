// The client port's express app: client API, watches, admin API, health and metrics, with the
// request context in front and the JSON error handler behind everything (unknown routes included).
import type { RequestListener } from 'node:http';
import type https from 'node:https';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ConfluxNodeApi } from '../node-api.js';
import { mountAdminApi } from './admin-api.js';
import { mountClientApi } from './client-api.js';
import { badRequest, routeNotFound, sendErrorResponse, toHttpError } from './errors.js';
import { Forwarder, LeaderRouter } from './forward.js';
import { mountHealth } from './health.js';
import { answerError, withHotKvRoutes } from './hot-kv.js';
import { requestContext } from './request-context.js';
import {
  allowAll,
  resolveHttpOptions,
  type AppContext,
  type Authorize,
  type HttpLogger,
  type HttpMetrics,
  type HttpOptionsInput,
} from './types.js';
import { WatchStreams } from './watch.js';

export interface ClientServerAppOptions {
  node: ConfluxNodeApi;
  logger: HttpLogger;
  /** NodeMetrics in a node; absent: no `/metrics` route and no request histogram. */
  metrics?: HttpMetrics;
  options?: HttpOptionsInput;
  /** The auth hook (design section 4); default: allow everything. */
  authorize?: Authorize;
  /** Trust for forwarding to a leader whose client port is HTTPS (e.g. `{ ca }`). */
  forwardTls?: https.AgentOptions;
}

export interface ClientServerApp {
  /** Hand to `http.createServer(app)`: the hot key routes (hot-kv.ts), then the express app. */
  app: RequestListener;
  /** Open watch streams (what the `conflux_watchers` gauge counts on the hub side). */
  watchStreams(): number;
  /**
   * Ends every watch stream and drops forwarding connections. Call before `server.close()`:
   * open SSE streams would otherwise keep the server from closing.
   */
  close(): void;
}

export function createClientServerApp(input: ClientServerAppOptions): ClientServerApp {
  const ctx: AppContext = {
    node: input.node,
    logger: input.logger,
    options: resolveHttpOptions(input.options),
    authorize: input.authorize ?? allowAll,
  };
  const forwarder = new Forwarder(input.node.id, ctx.options.forwardTimeoutMs, input.logger, input.forwardTls);
  const leader = new LeaderRouter(input.node, forwarder, ctx.options);
  const watches = new WatchStreams(ctx);

  const app = express();
  app.disable('x-powered-by');
  // ETags are ours (`"<modRevision>"`); express's body hashes would be wrong and cost CPU.
  app.set('etag', false);
  // `/v1/kv/` is an (invalid, empty) key, not the listing `/v1/kv`.
  app.set('strict routing', true);
  app.use(requestContext(input.logger, input.metrics));
  // HTTP/1.1 requires Host (RFC 9112 §3.2); see attachClientErrorHandler.
  app.use((req: Request, _res: Response, next: NextFunction) =>
    next(req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined ? badRequest('an HTTP/1.1 request needs a Host header', 'missing_host') : undefined),
  );

  const router = express.Router({ strict: true, caseSensitive: true });
  mountHealth(router, ctx, input.metrics);
  const api = mountClientApi(router, ctx, leader);
  watches.mount(router);
  mountAdminApi(router, ctx, leader);
  app.use(router);

  app.use((req: Request, _res: Response, next: NextFunction) => next(routeNotFound(req.method, req.path)));
  app.use(errorHandler(input.logger));

  return {
    app: withHotKvRoutes({ ctx, api, logger: input.logger, metrics: input.metrics, fallback: app }),
    watchStreams: () => watches.count,
    close: () => {
      watches.closeAll();
      forwarder.close();
    },
  };
}

function errorHandler(logger: HttpLogger) {
  // Express recognises error handlers by their four parameters: `next` must stay.
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => answerError(logger, req, res, err);
}
