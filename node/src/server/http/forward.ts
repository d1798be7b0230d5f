// Followers serve writes, linearizable reads and membership calls by forwarding them to the leader
// (design section 2: "Followers forward client writes (and linearizable reads) to the leader
// transparently"). The leader's response, errors included, is streamed back unchanged.
//
// What the client learns when forwarding fails is the contract's retry rule (section 3): 503 means
// the request never reached the leader, so retrying is safe; 504 outcome_unknown means a write
// reached it (or may have) and its fate is unknown.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { NotLeaderError } from '../errors.js';
import type { ConfluxNodeApi } from '../node-api.js';
import { HttpError, noLeader, outcomeUnknown } from './errors.js';
import { headerOf, originalUrlOf } from './raw.js';
import { markForwarded, REQUEST_ID_HEADER, requestIdOf, setRequestIdHeader } from './request-context.js';
import type { HttpLogger, HttpOptions } from './types.js';

/** Set on forwarded requests: a node that receives one while not the leader answers 503. */
export const FORWARDED_BY_HEADER = 'Conflux-Forwarded-By';
/** On responses served through forwarding: the leader that produced them. */
export const SERVED_BY_HEADER = 'Conflux-Leader-URL';

// RFC 9110 §7.6.1 hop-by-hop fields: they describe one connection, not the message.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];
// The request body is re-sent from a buffer: its length is recomputed, and 100-continue was
// already handled with the client.
const NOT_FORWARDED_REQUEST = new Set([...HOP_BY_HOP, 'host', 'content-length', 'expect']);
const NOT_FORWARDED_RESPONSE = new Set(HOP_BY_HOP);

const IDLE_SOCKET_MS = 4000;
/** How often to look again for the client URL of a leader known only by its id. */
const LEADER_URL_RETRY_MS = 25;

export type ForwardKind = 'write' | 'read';

export class Forwarder {
  // Idle sockets are dropped after 4 s, before the leader's server closes them (Node's default
  // keepAliveTimeout is 5 s): a write sent on a socket the server is closing would come back as
  // a reset, which we must report as outcome_unknown.
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: IDLE_SOCKET_MS });
  private readonly httpsAgent: https.Agent;

  /** `tls`: how to trust the leader's HTTPS client port (a private CA), for https leader URLs. */
  constructor(
    private readonly selfId: string,
    private readonly timeoutMs: number,
    private readonly logger: HttpLogger,
    tls: https.AgentOptions = {},
  ) {
    this.httpsAgent = new https.Agent({ ...tls, keepAlive: true, maxSockets: 256, timeout: IDLE_SOCKET_MS });
  }

  /**
   * Sends `req` (with the already-read `body`) to the leader and streams the answer back. Never
   * rejects. Resolves with the error to answer when nothing was sent to the client yet (503 when
   * the leader cannot have received the request, 504 for a write that it may have received).
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    leaderURL: string,
    body: Buffer | undefined,
    kind: ForwardKind,
  ): Promise<HttpError | null> {
    let target: { url: URL; path: string };
    try {
      target = forwardTarget(leaderURL, originalUrlOf(req));
    } catch {
      return Promise.resolve(noLeader(`the leader's client URL ${JSON.stringify(leaderURL)} is not usable`));
    }
    markForwarded(res, target.url.origin);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !NOT_FORWARDED_REQUEST.has(name)) headers[name] = value;
    }
    headers[FORWARDED_BY_HEADER.toLowerCase()] = this.selfId;
    headers[REQUEST_ID_HEADER.toLowerCase()] = requestIdOf(res);
    if (body !== undefined && body.length > 0) headers['content-length'] = String(body.length);
    else if (req.method !== 'GET' && req.method !== 'HEAD') headers['content-length'] = '0';

    return new Promise<HttpError | null>((resolve) => {
      let sent = false;
      let settled = false;
      const settle = (error: HttpError | null = null): void => {
        if (!settled) {
          settled = true;
          resolve(error);
        }
      };
      const upstream = (target.url.protocol === 'https:' ? https : http).request({
        protocol: target.url.protocol,
        // URL keeps IPv6 literals in brackets; the socket layer wants the bare address.
        hostname: target.url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: target.url.port,
        path: target.path,
        method: req.method,
        headers,
        agent: target.url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
      });
      upstream.setTimeout(this.timeoutMs, () => upstream.destroy(new ForwardTimeoutError()));
      upstream.on('socket', (socket) => {
        // A reused keep-alive socket is connected already; a new one once 'connect' fires. From
        // then on the leader may have received the request.
        if (!socket.connecting) sent = true;
        else socket.once('connect', () => (sent = true));
      });
      upstream.on('response', (answer) => {
        res.statusCode = answer.statusCode ?? 502;
        setRequestIdHeader(res);
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && !NOT_FORWARDED_RESPONSE.has(name)) res.setHeader(name, value);
        }
        res.setHeader(SERVED_BY_HEADER, target.url.origin);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
        answer.on('end', () => settle());
        // The client went away: stop reading from the leader.
        res.on('close', () => {
          if (!answer.readableEnded) answer.destroy();
          settle();
        });
      });
      upstream.on('error', (err) => {
        if (res.headersSent) {
          // The leader's answer broke off midway: the client sees a truncated response.
          res.destroy();
          settle();
          return;
        }
        const reason = err instanceof ForwardTimeoutError ? 'timed out' : describe(err);
        this.logger.warn('forwarding to the leader failed', {
          requestId: requestIdOf(res),
          leader: target.url.origin,
          reason,
          sent,
        });
        settle(
          kind === 'write' && sent
            ? outcomeUnknown(
                `the request was forwarded to the leader at ${target.url.origin} but no answer came (${reason}); it may still be applied`,
              )
            : noLeader(`the leader at ${target.url.origin} could not be reached (${reason})`),
        );
      });
      upstream.end(body !== undefined && body.length > 0 ? body : undefined);
    });
  }

  /**
   * A small GET of this node's own to the leader's client port (not a forwarded client request),
   * answered as status and parsed JSON body. Rejects when the leader cannot be reached, times out
   * or does not answer JSON.
   */
  getJson(leaderURL: string, path: string, headers: http.OutgoingHttpHeaders): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, leaderURL);
    return new Promise((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request({
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        path: url.pathname + url.search,
        method: 'GET',
        headers: { ...headers, [FORWARDED_BY_HEADER.toLowerCase()]: this.selfId },
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
      });
      request.setTimeout(this.timeoutMs, () => request.destroy(new ForwardTimeoutError()));
      request.on('error', (err) => reject(new Error(err instanceof ForwardTimeoutError ? 'timed out' : describe(err))));
      request.on('response', (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('error', (err) => reject(err));
        answer.on('end', () => {
          try {
            resolve({ status: answer.statusCode ?? 502, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
          } catch {
            reject(new Error(`the leader answered ${answer.statusCode ?? '?'} without a JSON body`));
          }
        });
      });
      request.end();
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

class ForwardTimeoutError extends Error {}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : 'unknown error';
}

/**
 * Where to send the request: the leader's origin, and the request's path and query. Only path and
 * query are taken from the request (an absolute-form or `//host` request target must never choose
 * where we connect), and an ordinary path is kept byte for byte so the leader decodes the same key.
 */
function forwardTarget(leaderURL: string, originalUrl: string): { url: URL; path: string } {
  const url = new URL(leaderURL);
  const base = url.pathname.replace(/\/+$/, '');
  if (originalUrl.startsWith('/') && !originalUrl.startsWith('//')) return { url, path: base + originalUrl };
  const parsed = new URL(originalUrl, 'http://request.invalid');
  return { url, path: base + parsed.pathname + parsed.search };
}

export interface LeaderRequest {
  kind: ForwardKind;
  /** The body already read by the handler, re-sent as is. */
  body?: Buffer;
}

/**
 * Runs `local` (which proposes or passes a read barrier) and, when the node says it is not the
 * leader, forwards instead. NotLeaderError is thrown before anything is proposed, so running
 * `local` again after an election, or forwarding, never applies a write twice.
 */
export class LeaderRouter {
  constructor(
    private readonly node: ConfluxNodeApi,
    private readonly forwarder: Forwarder,
    private readonly options: Pick<HttpOptions, 'leaderWaitMs' | 'retryAfterSeconds'>,
  ) {}

  async run(req: IncomingMessage, res: ServerResponse, request: LeaderRequest, local: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + this.options.leaderWaitMs;
    for (;;) {
      let notLeader: NotLeaderError;
      try {
        await local();
        return;
      } catch (err) {
        if (!(err instanceof NotLeaderError)) throw err;
        notLeader = err;
      }
      const forwardedBy = headerOf(req, FORWARDED_BY_HEADER);
      if (forwardedBy !== undefined) {
        // Two nodes disagree about who leads (a stale view on one side): answering beats looping.
        throw noLeader(
          `this node is not the leader either (forwarded by ${forwardedBy}); retry shortly`,
          this.options.retryAfterSeconds,
        );
      }
      const url = notLeader.leaderClientURL ?? this.node.leaderClientURL();
      if (url !== null) {
        await this.forward(req, res, url, request);
        return;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.noLeaderError();
      const leader = await this.node.waitForLeader(remaining);
      if (leader === null) throw this.noLeaderError();
      // A leader is known now (maybe this node): go round again; the deadline bounds the loop.
      // Known by id but not by where it serves clients (a joining node without the configuration
      // yet, or a leader our configuration does not list), waitForLeader answers at once: pause
      // so that the retries do not starve the event loop (Raft ticks, fsyncs, other requests).
      if (leader !== this.node.id) await new Promise((r) => setTimeout(r, Math.min(LEADER_URL_RETRY_MS, remaining)));
    }
  }

  /**
   * ReadIndex for this follower (`GET /admin/read-index` on the leader, with the caller's
   * credentials): the leader passes a read barrier and names its applied index; once this node has
   * applied that far, its state holds every write acknowledged before the call. Null when no
   * leader's client URL is known; throws the leader's refusal, or 503 when it cannot be asked.
   */
  async leaderReadIndex(req: IncomingMessage): Promise<number | null> {
    const url = this.node.leaderClientURL();
    if (url === null) return null;
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    const auth = headerOf(req, 'authorization');
    if (auth !== undefined) headers.authorization = auth;
    let answer: { status: number; body: unknown };
    try {
      answer = await this.forwarder.getJson(url, '/admin/read-index', headers);
    } catch (err) {
      throw noLeader(`the leader at ${url} could not be asked for a read index (${err instanceof Error ? err.message : String(err)})`, this.options.retryAfterSeconds);
    }
    const body = answer.body as { index?: unknown; error?: { code?: unknown; message?: unknown } };
    if (answer.status === 200 && typeof body.index === 'number' && Number.isSafeInteger(body.index)) return body.index;
    const code = typeof body.error?.code === 'string' ? body.error.code : 'no_leader';
    const message = typeof body.error?.message === 'string' ? body.error.message : `the leader answered ${answer.status}`;
    throw new HttpError(answer.status >= 400 ? answer.status : 502, code, `read index from the leader: ${message}`);
  }

  private noLeaderError(): Error {
    return noLeader(
      `no leader is known after waiting ${this.options.leaderWaitMs} ms (election in progress); retry shortly`,
      this.options.retryAfterSeconds,
    );
  }

  private async forward(req: IncomingMessage, res: ServerResponse, url: string, request: LeaderRequest): Promise<void> {
    const failure = await this.forwarder.forward(req, res, url, request.body, request.kind);
    if (failure !== null) throw failure;
  }
}
