// A typed client for a node's admin API (docs/api.md). The operator talks to pods by pod IP or by
// their DNS name under the headless Service, never through a Service ClusterIP: it must know which
// node answered (status of *that* pod), and membership changes go straight to the leader.
import { randomBytes } from 'node:crypto';

/** `GET /admin/status` */
export interface NodeStatus {
  id: string;
  incarnation: string;
  clusterId: string;
  role: 'leader' | 'follower' | 'candidate' | 'learner' | 'joining';
  term: number;
  leaderId: string | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
}

export interface MemberView {
  id: string;
  incarnation: string;
  peerURL: string;
  clientURL: string;
  role: 'voter' | 'learner';
  matchIndex: number;
  lag: number;
  healthy: boolean;
}

/** `GET /admin/members`: the configuration from the leader's view. */
export interface MembersView {
  leaderId: string | null;
  members: MemberView[];
}

export interface NewMember {
  id: string;
  peerURL: string;
  clientURL: string;
  incarnation?: string;
}

/** Where to send a request: a pod's client URL (`http://<pod IP>:7070`) and the admin token. */
export interface AdminTarget {
  url: string;
  token?: string;
}

export interface AdminClient {
  status(target: AdminTarget): Promise<NodeStatus>;
  members(target: AdminTarget): Promise<MembersView>;
  /** On a fresh node only; 409 `conflict` when it has state. */
  bootstrap(target: AdminTarget): Promise<{ clusterId: string }>;
  addLearner(target: AdminTarget, member: NewMember): Promise<MembersView>;
  /** 409 `not_caught_up` (AdminError.details.lag) while the learner lags. */
  promote(target: AdminTarget, id: string): Promise<MembersView>;
  remove(target: AdminTarget, id: string): Promise<MembersView>;
  transferLeader(target: AdminTarget, to?: string): Promise<{ leaderId: string }>;
}

/**
 * A failed admin call. `status` is the HTTP status, or 0 when no answer came (`code` is then
 * `timeout` or `unreachable`). For other failures `code` is the node's error code
 * (`change_in_progress`, `not_caught_up`, `no_leader`, `unknown_member`, ...).
 */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AdminError';
  }

  /** No answer, or the node could not serve it now: another node or a later pass may do better. */
  get transient(): boolean {
    return this.status === 0 || this.status === 503 || this.status === 504 || this.code === 'change_in_progress';
  }
}

export interface HttpAdminClientOptions {
  /** Reads (status, members). */
  readTimeoutMs?: number;
  /** Membership changes wait until the change is applied on the leader. */
  changeTimeoutMs?: number;
  fetch?: typeof fetch;
  requestIdPrefix?: string;
}

export class HttpAdminClient implements AdminClient {
  private readonly readTimeoutMs: number;
  private readonly changeTimeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly prefix: string;

  constructor(o: HttpAdminClientOptions = {}) {
    this.readTimeoutMs = o.readTimeoutMs ?? 3000;
    this.changeTimeoutMs = o.changeTimeoutMs ?? 15_000;
    this.fetchFn = o.fetch ?? fetch;
    this.prefix = o.requestIdPrefix ?? 'conflux-operator';
  }

  status(t: AdminTarget): Promise<NodeStatus> {
    return this.call<NodeStatus>(t, 'GET', '/admin/status', undefined, this.readTimeoutMs);
  }

  members(t: AdminTarget): Promise<MembersView> {
    return this.call<MembersView>(t, 'GET', '/admin/members', undefined, this.readTimeoutMs);
  }

  bootstrap(t: AdminTarget): Promise<{ clusterId: string }> {
    return this.call(t, 'POST', '/admin/bootstrap', {}, this.changeTimeoutMs);
  }

  addLearner(t: AdminTarget, member: NewMember): Promise<MembersView> {
    return this.call(t, 'POST', '/admin/members', member, this.changeTimeoutMs);
  }

  promote(t: AdminTarget, id: string): Promise<MembersView> {
    return this.call(t, 'POST', `/admin/members/${encodeURIComponent(id)}/promote`, undefined, this.changeTimeoutMs);
  }

  remove(t: AdminTarget, id: string): Promise<MembersView> {
    return this.call(t, 'DELETE', `/admin/members/${encodeURIComponent(id)}`, undefined, this.changeTimeoutMs);
  }

  transferLeader(t: AdminTarget, to?: string): Promise<{ leaderId: string }> {
    return this.call(t, 'POST', '/admin/leader/transfer', to === undefined ? {} : { to }, this.changeTimeoutMs);
  }

  private async call<T>(t: AdminTarget, method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', 'X-Request-Id': `${this.prefix}-${randomBytes(6).toString('hex')}` };
    if (t.token !== undefined) headers.Authorization = `Bearer ${t.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const url = `${t.url.replace(/\/$/, '')}${path}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        throw new AdminError(0, 'timeout', `${method} ${url}: no answer within ${timeoutMs} ms`);
      }
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminError(0, 'unreachable', `${method} ${url}: ${cause?.code ?? cause?.message ?? e.message}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new AdminError(0, 'unreachable', `${method} ${url}: answer cut off (${(err as Error).message})`);
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new AdminError(res.status, 'bad_answer', `${method} ${url}: ${res.status} with a body that is not JSON`);
    }
    if (res.status >= 200 && res.status < 300) return parsed as T;
    const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
    const code = typeof error?.code === 'string' ? error.code : `http_${res.status}`;
    const message = typeof error?.message === 'string' ? error.message : `status ${res.status}`;
    const details: Record<string, unknown> = { ...(error as Record<string, unknown> | undefined) };
    delete details.code;
    delete details.message;
    throw new AdminError(res.status, code, `${method} ${url}: ${res.status} ${code}: ${message}`, details);
  }
}
