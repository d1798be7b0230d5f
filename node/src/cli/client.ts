// A small typed client of the Conflux HTTP API (design section 3), used by the `conflux` CLI,
// tests and benchmarks. Built on Node's fetch; no dependencies.
//
// Endpoints: requests go to the endpoint that last answered; when it cannot be reached the next
// one is tried. Any node will do: followers forward to the leader. A write is moved to another
// endpoint only when it provably never left (the connection was refused); a write whose
// connection broke after sending has an unknown outcome and is reported, never silently resent.

export interface ClientOptions {
  endpoints: readonly string[];
  token?: string | undefined;
  /** Per request (a watch stream is exempt once open). */
  timeoutMs?: number;
}

/** The server answered with an error (4xx/5xx and the JSON error shape). */
export class ConfluxHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>>,
    readonly retryAfterSeconds: number | null,
  ) {
    super(message);
    this.name = 'ConfluxHttpError';
  }
}

/** No endpoint could be reached. */
export class UnreachableError extends Error {
  constructor(readonly attempts: readonly { endpoint: string; reason: string }[]) {
    super(`cannot reach any endpoint: ${attempts.map((a) => `${a.endpoint} (${a.reason})`).join(', ')}`);
    this.name = 'UnreachableError';
  }
}

/** A write was sent but its connection broke before an answer: it may or may not have applied. */
export class OutcomeUnknownError extends Error {
  constructor(
    readonly endpoint: string,
    reason: string,
  ) {
    super(`the connection to ${endpoint} failed after the request was sent (${reason}); the write may or may not have been applied`);
    this.name = 'OutcomeUnknownError';
  }
}

export interface KeyValue {
  key: string;
  value: Uint8Array;
  contentType: string;
  modRevision: number;
  createRevision: number;
  version: number;
  /** Store revision of the read. */
  revision: number;
}

export interface WriteResult {
  key: string;
  revision: number;
  createRevision: number;
  modRevision: number;
  version: number;
  created: boolean;
  toRevision?: number;
}

export interface DeleteResult {
  key: string;
  revision: number;
}

/** A value as JSON carries it: UTF-8 text, or base64 with `encoding`. */
export interface WireValue {
  value: string;
  encoding?: 'base64';
}

export interface ListItem extends Partial<WireValue> {
  key: string;
  modRevision: number;
  createRevision: number;
  version: number;
  contentType: string;
}

export interface ListPage {
  revision: number;
  items: ListItem[];
  more: boolean;
}

export interface HistoryItem extends WireValue {
  modRevision: number;
  createRevision: number;
  version: number;
  contentType: string;
  deleted: boolean;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  revision: number;
  key: string;
  modRevision: number;
  createRevision: number;
  version: number;
  contentType: string;
  value: Uint8Array;
}

export type WatchEnd = { kind: 'aborted'; lastRevision: number | null } | { kind: 'compacted'; oldestRevision: number };

export interface WatchParams {
  prefix?: string;
  fromRevision?: number;
  signal?: AbortSignal;
  onEvent: (event: WatchEvent) => void;
  /** Disconnections and resumptions, for a human (stderr). */
  onNotice?: (message: string) => void;
  /** First delay between reconnection attempts; doubles up to 5 s. */
  retryDelayMs?: number;
}

export function decodeWireValue(w: WireValue): Uint8Array {
  return w.encoding === 'base64' ? new Uint8Array(Buffer.from(w.value, 'base64')) : new TextEncoder().encode(w.value);
}

/** `a/b c` -> `a/b%20c`: each segment escaped, slashes kept so the server sees the same key. */
export function keyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

type Idempotence = 'idempotent' | 'write';

interface RequestSpec {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  kind: Idempotence;
  /** Statuses that are answers, not errors (404 for a listing of nothing, ...). */
  accept?: number[];
}

// Errors that prove the request never reached a server: safe to send elsewhere, even a write.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

export class ConfluxClient {
  private readonly endpoints: readonly string[];
  private current = 0;
  private readonly timeoutMs: number;

  constructor(private readonly options: ClientOptions) {
    if (options.endpoints.length === 0) throw new Error('at least one endpoint is required');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The endpoint requests currently go to. */
  get endpoint(): string {
    return this.endpoints[this.current] as string;
  }

  // ---- keys -----------------------------------------------------------------------------------

  async get(key: string, options: { revision?: number; serializable?: boolean } = {}): Promise<KeyValue> {
    const res = await this.request({
      method: 'GET',
      path: `/v1/kv/${keyPath(key)}`,
      query: { revision: options.revision, consistency: options.serializable === true ? 'serializable' : undefined },
      kind: 'idempotent',
    });
    return {
      key,
      value: new Uint8Array(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      modRevision: intHeader(res, 'conflux-mod-revision') ?? etagRevision(res.headers.get('etag')),
      createRevision: intHeader(res, 'conflux-create-revision') ?? 0,
      version: intHeader(res, 'conflux-version') ?? 0,
      revision: intHeader(res, 'conflux-revision') ?? 0,
    };
  }

  async put(
    key: string,
    value: Uint8Array | string,
    options: { contentType?: string; ifMatch?: number; createOnly?: boolean } = {},
  ): Promise<WriteResult> {
    const headers: Record<string, string> = { 'Content-Type': options.contentType ?? 'application/octet-stream' };
    if (options.ifMatch !== undefined) headers['If-Match'] = `"${options.ifMatch}"`;
    if (options.createOnly === true) headers['If-None-Match'] = '*';
    const res = await this.request({ method: 'PUT', path: `/v1/kv/${keyPath(key)}`, headers, body: value, kind: 'write' });
    return { ...((await res.json()) as Omit<WriteResult, 'created'>), created: res.status === 201 };
  }

  async delete(key: string, options: { ifMatch?: number } = {}): Promise<DeleteResult> {
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) headers['If-Match'] = `"${options.ifMatch}"`;
    const res = await this.request({ method: 'DELETE', path: `/v1/kv/${keyPath(key)}`, headers, kind: 'write' });
    return (await res.json()) as DeleteResult;
  }

  async list(options: { prefix?: string; after?: string; limit?: number; keysOnly?: boolean; serializable?: boolean } = {}): Promise<ListPage> {
    const res = await this.request({
      method: 'GET',
      path: '/v1/kv',
      query: {
        prefix: options.prefix,
        after: options.after,
        limit: options.limit,
        keysOnly: options.keysOnly === true ? 'true' : undefined,
        consistency: options.serializable === true ? 'serializable' : undefined,
      },
      kind: 'idempotent',
    });
    return (await res.json()) as ListPage;
  }

  /** Every matching item, page by page (each key exactly once, in key order). */
  async *listAll(options: { prefix?: string; pageSize?: number; keysOnly?: boolean; serializable?: boolean } = {}): AsyncGenerator<ListItem> {
    let after: string | undefined;
    for (;;) {
      const page = await this.list({ ...options, limit: options.pageSize, ...(after === undefined ? {} : { after }) });
      yield* page.items;
      const last = page.items[page.items.length - 1];
      if (!page.more || last === undefined) return;
      after = last.key;
    }
  }

  async history(key: string): Promise<{ key: string; revision: number; items: HistoryItem[] }> {
    const res = await this.request({ method: 'GET', path: `/v1/history/${keyPath(key)}`, kind: 'idempotent' });
    return (await res.json()) as { key: string; revision: number; items: HistoryItem[] };
  }

  async rollback(key: string, toRevision: number, options: { ifMatch?: number } = {}): Promise<WriteResult> {
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) headers['If-Match'] = `"${options.ifMatch}"`;
    const res = await this.request({
      method: 'POST',
      path: `/v1/rollback/${keyPath(key)}`,
      query: { toRevision },
      headers,
      kind: 'write',
    });
    return { ...((await res.json()) as Omit<WriteResult, 'created'>), created: res.status === 201 };
  }

  // ---- admin ----------------------------------------------------------------------------------

  async status(): Promise<Record<string, unknown>> {
    return this.json({ method: 'GET', path: '/admin/status', kind: 'idempotent' });
  }

  async members(): Promise<MembersView> {
    return this.json({ method: 'GET', path: '/admin/members', kind: 'idempotent' });
  }

  async addMember(member: { id: string; peerURL: string; clientURL: string; incarnation?: string }): Promise<MembersView> {
    return this.json({ method: 'POST', path: '/admin/members', body: JSON.stringify(member), headers: jsonHeaders, kind: 'write' });
  }

  async promoteMember(id: string): Promise<MembersView> {
    return this.json({ method: 'POST', path: `/admin/members/${encodeURIComponent(id)}/promote`, kind: 'write' });
  }

  async removeMember(id: string): Promise<MembersView> {
    return this.json({ method: 'DELETE', path: `/admin/members/${encodeURIComponent(id)}`, kind: 'write' });
  }

  async transferLeader(to?: string): Promise<{ leaderId: string }> {
    const body = JSON.stringify(to === undefined ? {} : { to });
    return this.json({ method: 'POST', path: '/admin/leader/transfer', body, headers: jsonHeaders, kind: 'write' });
  }

  /**
   * `GET /admin/snapshot`: the backup file's bytes as they stream in. Only the response headers
   * have the request deadline; after that, a stream silent for `idleTimeoutMs` (default: the
   * client's timeout) is cut and the iteration throws StreamStalledError.
   */
  async backupStream(options: { serializable?: boolean; idleTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Uint8Array>> {
    const controller = new AbortController();
    // Ctrl-C: the reader's next read fails, and the caller cleans up what it wrote.
    if (options.signal?.aborted === true) controller.abort();
    else options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
    const res = await this.request(
      { method: 'GET', path: '/admin/snapshot', query: { consistency: options.serializable === true ? 'serializable' : undefined }, kind: 'idempotent' },
      { stream: true, signal: controller.signal },
    );
    return readBody(res, options.idleTimeoutMs ?? this.timeoutMs, this.endpoint, controller);
  }

  // ---- watch ----------------------------------------------------------------------------------

  /**
   * Streams changes to `onEvent` until `signal` aborts or the requested history is compacted.
   * Reconnects (rotating endpoints) with Last-Event-ID after a disconnect or a server-side cut,
   * so no event is missed or repeated. Throws UnreachableError if no endpoint answers at first,
   * and ConfluxHttpError for a refused request (bad prefix, auth).
   */
  async watch(params: WatchParams): Promise<WatchEnd> {
    let lastRevision: number | null = null;
    let connectedOnce = false;
    let delayMs = params.retryDelayMs ?? 200;
    const firstDelay = delayMs;
    const notice = params.onNotice ?? (() => undefined);
    // A function, not a narrowed property read: the signal flips while we await.
    const aborted = (): boolean => params.signal?.aborted === true;
    while (!aborted()) {
      const query: Record<string, string | number | undefined> = { prefix: params.prefix };
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (lastRevision !== null) headers['Last-Event-ID'] = String(lastRevision);
      else if (params.fromRevision !== undefined) query.fromRevision = params.fromRevision;
      let res: Response;
      try {
        res = await this.request({ method: 'GET', path: '/v1/watch', query, headers, kind: 'idempotent' }, { stream: true, signal: params.signal });
      } catch (err) {
        if (aborted()) break;
        const retriable =
          (err instanceof UnreachableError && connectedOnce) ||
          (err instanceof ConfluxHttpError && (err.status === 429 || err.status >= 500));
        if (!retriable) throw err;
        notice(`watch: ${err.message}; retrying`);
        this.rotate();
        await sleep(delayMs, params.signal);
        delayMs = Math.min(delayMs * 2, 5000);
        continue;
      }
      if (connectedOnce) notice(`watch: resumed on ${this.endpoint}${lastRevision === null ? '' : ` after revision ${lastRevision}`}`);
      connectedOnce = true;
      delayMs = firstDelay;
      let ended: WatchEnd | null = null;
      try {
        for await (const e of parseSse(res, params.signal)) {
          if (e.event === 'put' || e.event === 'delete') {
            const data = JSON.parse(e.data) as Omit<WatchEvent, 'type' | 'revision' | 'value'> & WireValue;
            const revision = Number(e.id);
            params.onEvent({
              type: e.event,
              revision,
              key: data.key,
              modRevision: data.modRevision,
              createRevision: data.createRevision,
              version: data.version,
              contentType: data.contentType,
              value: decodeWireValue(data),
            });
            lastRevision = revision;
          } else if (e.event === 'compacted') {
            ended = { kind: 'compacted', oldestRevision: Number((JSON.parse(e.data) as { oldestRevision: number }).oldestRevision) };
            break;
          } else if (e.event === 'error') {
            notice(`watch: the server ended the stream (${e.data})`);
          }
        }
      } catch (err) {
        if (aborted()) break;
        notice(`watch: stream from ${this.endpoint} broke (${describe(err)})`);
      }
      if (ended !== null) return ended;
      if (aborted()) break;
      // The node closed the stream (restart, shutdown, slow-watcher cut): resume elsewhere.
      this.rotate();
      await sleep(delayMs, params.signal);
    }
    return { kind: 'aborted', lastRevision };
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private async json<T>(spec: RequestSpec): Promise<T> {
    const res = await this.request(spec);
    return (await res.json()) as T;
  }

  private rotate(): void {
    this.current = (this.current + 1) % this.endpoints.length;
  }

  private async request(spec: RequestSpec, stream: { stream: boolean; signal?: AbortSignal | undefined } = { stream: false }): Promise<Response> {
    const attempts: { endpoint: string; reason: string }[] = [];
    for (let tried = 0; tried < this.endpoints.length; tried++) {
      const endpoint = this.endpoint;
      const url = new URL(endpoint + spec.path);
      for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      const headers: Record<string, string> = { ...spec.headers };
      if (this.options.token !== undefined) headers.Authorization = `Bearer ${this.options.token}`;
      // A stream has no overall deadline, only one for its response headers.
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const connect = new AbortController();
      const onAbort = (): void => connect.abort();
      stream.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => connect.abort(new TimeoutError()), this.timeoutMs);
      let res: Response;
      try {
        res = await fetch(url, {
          method: spec.method,
          headers,
          ...(spec.body === undefined ? {} : { body: spec.body }),
          signal: stream.stream ? connect.signal : timeout,
        });
      } catch (err) {
        clearTimeout(timer);
        stream.signal?.removeEventListener('abort', onAbort);
        if (stream.signal?.aborted === true) throw err;
        const reason = describe(err);
        if (spec.kind === 'write' && !neverSent(err)) throw new OutcomeUnknownError(endpoint, reason);
        attempts.push({ endpoint, reason });
        this.rotate();
        continue;
      }
      clearTimeout(timer);
      stream.signal?.removeEventListener('abort', onAbort);
      if (res.ok || spec.accept?.includes(res.status) === true) return res;
      throw await httpError(res);
    }
    throw new UnreachableError(attempts);
  }
}

/** A streamed response went silent for longer than the idle timeout. */
export class StreamStalledError extends Error {
  constructor(
    readonly endpoint: string,
    idleMs: number,
  ) {
    super(`the stream from ${endpoint} sent nothing for ${idleMs} ms`);
    this.name = 'StreamStalledError';
  }
}

async function* readBody(res: Response, idleMs: number, endpoint: string, controller: AbortController): AsyncGenerator<Uint8Array, void, undefined> {
  if (res.body === null) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      // What fetch already buffered would still be read after an abort: stop here instead.
      if (controller.signal.aborted) throw new Error('aborted');
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StreamStalledError(endpoint, idleMs)), idleMs);
      });
      try {
        const { done, value } = await Promise.race([reader.read(), stalled]);
        if (done) return;
        yield value;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    controller.abort();
    await reader.cancel().catch(() => undefined);
  }
}

export interface MembersView {
  leaderId: string | null;
  members: {
    id: string;
    incarnation: string;
    peerURL: string;
    clientURL: string;
    role: 'voter' | 'learner';
    matchIndex: number;
    lag: number;
    healthy: boolean;
  }[];
}

const jsonHeaders = { 'Content-Type': 'application/json' };

class TimeoutError extends Error {
  constructor() {
    super('timed out');
    this.name = 'TimeoutError';
  }
}

function errorCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; name?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function neverSent(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) return NOT_SENT_CODES.has(code);
  // fetch refuses some ports outright (the WHATWG "bad port" list) before connecting.
  return causeMessage(err) === 'bad port';
}

function causeMessage(err: unknown): string | undefined {
  const cause = (err as { cause?: { message?: unknown } }).cause;
  return typeof cause?.message === 'string' ? cause.message : undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  const code = errorCode(err);
  if (code !== undefined) return code;
  const cause = causeMessage(err);
  if (cause !== undefined) return cause;
  return err instanceof Error ? err.message : String(err);
}

async function httpError(res: Response): Promise<ConfluxHttpError> {
  const retryAfter = Number(res.headers.get('retry-after'));
  const text = await res.text().catch(() => '');
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let details: Record<string, unknown> = {};
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } & Record<string, unknown> };
    if (body.error !== undefined) {
      const { code: c, message: m, ...rest } = body.error;
      if (typeof c === 'string') code = c;
      if (typeof m === 'string') message = m;
      details = rest;
    }
  } catch {
    // Not our JSON shape (a proxy in between): keep the status line.
  }
  return new ConfluxHttpError(res.status, code, message, details, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

function intHeader(res: Response, name: string): number | undefined {
  const raw = res.headers.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

function etagRevision(etag: string | null): number {
  const n = Number(etag?.replace(/"/g, ''));
  return Number.isSafeInteger(n) ? n : 0;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** Server-Sent Events from a fetch response (the subset Conflux sends: id, event, data, comments; LF or CRLF). */
export async function* parseSse(res: Response, signal?: AbortSignal): AsyncGenerator<SseMessage> {
  if (res.body === null) return;
  const reader = res.body.getReader();
  const onAbort = (): void => void reader.cancel().catch(() => undefined);
  // An already-aborted signal never fires 'abort': check it here or the read below waits forever.
  if (signal?.aborted === true) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = 'message';
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (data.length > 0 || event !== 'message') yield { id, event, data: data.join('\n') };
          id = undefined;
          event = 'message';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = val;
        else if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Leaving early (compacted, abort) must close the stream, not just stop reading it.
    await reader.cancel().catch(() => undefined);
  }
}
