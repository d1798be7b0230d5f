// What the client-port app is built from. The app depends on these small shapes, not on winston or
// prom-client: main.ts passes a winston Logger and a NodeMetrics, tests pass whatever they like.
import type { Request } from 'express';
import type { ConfluxNodeApi } from '../node-api.js';

/** The slice of a winston Logger the HTTP layer uses (a winston Logger satisfies it). */
export interface HttpLogger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
  /** winston's; lets the per-request debug line cost nothing when debug is off. */
  isLevelEnabled?(level: string): boolean;
}

/** What the request middleware reports per request (NodeMetrics implements it). */
export interface HttpMetricsSink {
  /** `route` is a route pattern such as `/v1/kv/{key}`, never a raw path: bounded cardinality. */
  observeHttpRequest(route: string, method: string, code: number, seconds: number): void;
}

/** What `/metrics` serves (NodeMetrics implements it). */
export interface MetricsExposition {
  render(): Promise<{ contentType: string; body: string }>;
}

export type HttpMetrics = HttpMetricsSink & MetricsExposition;

/**
 * What a request needs. `key` for single-key operations, `prefix` for listings and watches (''
 * means every key). Admin covers the whole /admin API.
 */
export type AccessNeed =
  | { kind: 'read'; key: string }
  | { kind: 'read'; prefix: string }
  | { kind: 'write'; key: string }
  | { kind: 'admin' };

/**
 * The auth hook (design section 4; the token feature plugs in here). Resolve to allow; throw
 * `UnauthorizedError` (401) or `ForbiddenError` (403) from ./errors.js to refuse. Called before any
 * work, including forwarding, so the leader never sees requests the follower refused.
 */
export type Authorize = (req: Request, need: AccessNeed) => void | Promise<void>;

const HEADERS_ONLY = Symbol.for('conflux.authorize.headersOnly');

/**
 * Marks an Authorize that reads nothing but `req.headers` (and records the principal with
 * setPrincipal): it works on a plain node:http request as well, which lets the busiest routes be
 * served without express (hot-kv.ts). Hooks without the mark always get an express request.
 */
export function headersOnly(authorize: Authorize): Authorize {
  return Object.assign(authorize, { [HEADERS_ONLY]: true });
}

export function isHeadersOnly(authorize: Authorize): boolean {
  return (authorize as { [HEADERS_ONLY]?: boolean })[HEADERS_ONLY] === true;
}

export const allowAll: Authorize = headersOnly(() => undefined);

export interface WatchOptions {
  /** SSE comment interval that keeps proxies and clients from timing the stream out. */
  heartbeatMs: number;
  /** Open watch streams this node serves at once; the next one gets 429. */
  maxWatchers: number;
  /** Matching events a watcher may lag behind before it is cut off (`event: error`). */
  maxLagEvents: number;
  /** While a stream cannot drain, how often to look whether the hub cut the watcher off. */
  stallCheckMs: number;
}

export interface HttpOptions {
  /** Inclusive limit on a value's size. */
  maxValueBytes: number;
  /** Inclusive limit on a JSON admin body. */
  maxAdminBodyBytes: number;
  /** Items per listing page: the default and the cap for `limit`. */
  listLimitMax: number;
  /** How long a request that needs the leader waits for one during an election. */
  leaderWaitMs: number;
  /** Deadline for a request forwarded to the leader, response included. */
  forwardTimeoutMs: number;
  /** Passed to propose/readBarrier; undefined leaves the driver's default. */
  proposeTimeoutMs: number | undefined;
  /** Retry-After on 503/429 answers the HTTP layer makes itself. */
  retryAfterSeconds: number;
  /**
   * Serve GET and PUT /v1/kv/{key} without express (hot-kv.ts): same answers, a fraction of the
   * CPU. Off only to compare the two paths (tests).
   */
  hotPath: boolean;
  watch: WatchOptions;
}

export const DEFAULT_HTTP_OPTIONS: HttpOptions = {
  maxValueBytes: 1024 * 1024,
  maxAdminBodyBytes: 64 * 1024,
  listLimitMax: 1000,
  leaderWaitMs: 2000,
  forwardTimeoutMs: 15_000,
  proposeTimeoutMs: undefined,
  retryAfterSeconds: 1,
  hotPath: true,
  watch: { heartbeatMs: 10_000, maxWatchers: 1000, maxLagEvents: 10_000, stallCheckMs: 250 },
};

export type HttpOptionsInput = Partial<Omit<HttpOptions, 'watch'>> & { watch?: Partial<WatchOptions> };

export function resolveHttpOptions(input: HttpOptionsInput = {}): HttpOptions {
  const { watch, ...rest } = input;
  const options: HttpOptions = {
    ...DEFAULT_HTTP_OPTIONS,
    ...stripUndefined(rest),
    watch: { ...DEFAULT_HTTP_OPTIONS.watch, ...stripUndefined(watch ?? {}) },
  };
  for (const [name, value] of Object.entries({
    maxValueBytes: options.maxValueBytes,
    maxAdminBodyBytes: options.maxAdminBodyBytes,
    listLimitMax: options.listLimitMax,
    forwardTimeoutMs: options.forwardTimeoutMs,
    retryAfterSeconds: options.retryAfterSeconds,
    heartbeatMs: options.watch.heartbeatMs,
    maxWatchers: options.watch.maxWatchers,
    maxLagEvents: options.watch.maxLagEvents,
    stallCheckMs: options.watch.stallCheckMs,
  })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  if (!Number.isSafeInteger(options.leaderWaitMs) || options.leaderWaitMs < 0) {
    throw new RangeError(`leaderWaitMs must be a non-negative integer, got ${options.leaderWaitMs}`);
  }
  return options;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Everything a route module needs, built once per app. */
export interface AppContext {
  node: ConfluxNodeApi;
  logger: HttpLogger;
  options: HttpOptions;
  authorize: Authorize;
}
