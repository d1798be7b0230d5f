// Peer transport: one queue and one agent per peer, so that a slow or dead peer never slows the
// others. Messages go over one long-lived request per peer (`POST /raft/stream`, peer-server.ts):
// everything queued during one turn of the event loop leaves as one frame, one socket write, in
// order, with no request or response per batch. A peer that does not know the stream path (an
// older version) gets one request per batch on the per-message paths instead, a few in flight.
// Failures drop what is queued (Raft retransmits) and back off exponentially with jitter.
import http from 'node:http';
import https from 'node:https';
import type { Message, NodeId } from '../raft/types.js';
import type { Rng } from '../raft/rng.js';
import type { Clock } from './clock.js';
import type { PeerSender, SnapshotFiles } from './driver.js';
import type { Logger } from './logger.js';
import { encodeMessages, encodeStreamFrame } from './peer-codec.js';
import { encodeSnapshotChunk } from './snapshot-chunk.js';

export interface TransportOptions {
  /** Where a peer listens, from the current configuration; null when unknown. */
  resolve: (id: NodeId) => string | null;
  /**
   * This node's advertised peer URL, sent as a header so that a node that waits to be added (and
   * has no configuration yet) can answer the leader that reached it.
   */
  selfPeerURL?: string;
  onUnreachable: (id: NodeId) => void;
  clock: Clock;
  rng: Rng;
  logger: Logger;
  peerToken?: string;
  /** Requests in flight per peer. */
  maxInflightRequests?: number;
  /** Messages queued per peer before the oldest are dropped. */
  maxQueuedMessages?: number;
  requestTimeoutMs?: number;
  snapshotChunkBytes?: number;
  tls?: https.AgentOptions;
}

export const PEER_URL_HEADER = 'conflux-peer-url';

/** Which peer endpoint carries a message (design section 3, Peer API). */
export function endpointOf(m: Message): string {
  switch (m.type) {
    case 'vote':
    case 'vote_resp':
      return '/raft/vote';
    case 'timeout_now':
      return '/raft/timeout_now';
    default:
      return '/raft/append_entries';
  }
}

/** The stream path (peer-server.ts PEER_STREAM_PATH; not imported: the server imports this file). */
const STREAM_PATH = '/raft/stream';
/** After a peer refused the stream path, use requests for this long, then try the stream again. */
const STREAM_RETRY_MS = 60_000;
/**
 * A stream is replaced by a fresh one after this long, well before a server's request timeout
 * (node:http's default requestTimeout is 300 s) could cut it. The old one is ended, not destroyed:
 * what it carries still arrives.
 */
const STREAM_ROTATE_MS = 60_000;

interface PeerStream {
  req: http.ClientRequest;
  /** Destroys the stream if a write stays unflushed this long (a peer that stopped reading). */
  stallTimer: NodeJS.Timeout | null;
  /** When the peer last said anything (it sends an empty line every second). */
  heardAtMs: number;
  openedAtMs: number;
  /** Destroys the stream when the peer has been silent longer than the request timeout. */
  silenceCheck: NodeJS.Timeout;
}

class PeerLink {
  queue: Message[] = [];
  inflight = 0;
  failures = 0;
  refusals = 0;
  retryAtMs = 0;
  retryTimer: NodeJS.Timeout | null = null;
  flushScheduled = false;
  stream: PeerStream | null = null;
  /** Until then, one request per batch (the peer refused the stream path). */
  requestsUntilMs = 0;
  readonly agent: http.Agent;

  constructor(
    readonly id: NodeId,
    maxSockets: number,
    tls: https.AgentOptions | undefined,
  ) {
    const opts = { keepAlive: true, maxSockets, keepAliveMsecs: 1000 };
    this.agent = tls ? new https.Agent({ ...opts, ...tls }) : new http.Agent(opts);
  }
}

export class PeerTransport implements PeerSender {
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly maxInflight: number;
  private readonly maxQueued: number;
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private closed = false;

  constructor(private readonly o: TransportOptions) {
    this.maxInflight = o.maxInflightRequests ?? 4;
    this.maxQueued = o.maxQueuedMessages ?? 4096;
    this.timeoutMs = o.requestTimeoutMs ?? 5000;
    this.chunkBytes = o.snapshotChunkBytes ?? 1 << 20;
  }

  send(msg: Message): void {
    if (this.closed) return;
    const link = this.link(msg.to);
    link.queue.push(msg);
    if (link.queue.length > this.maxQueued) link.queue.splice(0, link.queue.length - this.maxQueued);
    // Everything the driver sends in this turn (its sends are synchronous or chained microtasks)
    // leaves together: one frame per peer.
    if (!link.flushScheduled) {
      link.flushScheduled = true;
      process.nextTick(() => {
        link.flushScheduled = false;
        this.flush(link);
      });
    }
  }

  async sendSnapshot(to: NodeId, _toIncarnation: string, envelope: Omit<Extract<Message, { type: 'snapshot' }>, 'type'>, files: SnapshotFiles): Promise<void> {
    const base = this.o.resolve(to);
    if (!base) throw new Error(`no address for ${to}`);
    const reader = await files.openReader();
    const { sizeBytes, checksum, meta } = reader.info;
    if (meta.index !== envelope.meta.index || meta.term !== envelope.meta.term) {
      await reader.close();
      throw new Error(`the latest snapshot moved on (${meta.index}) while sending ${envelope.meta.index}`);
    }
    let offset = 0;
    let attempts = 0;
    try {
      // Resumable: after a failed chunk, continue from the offset the receiver reports.
      restart: for (;;) {
        const chunks = reader.chunks(offset, this.chunkBytes)[Symbol.asyncIterator]();
        let current = await chunks.next();
        for (;;) {
          const data = current.done ? new Uint8Array(0) : current.value;
          const following = current.done ? current : await chunks.next();
          const done = following.done === true;
          const body = encodeSnapshotChunk({ ...envelope, type: 'snapshot', offset, done, size: sizeBytes, checksum }, data);
          let res: { status: number; body: string };
          try {
            res = await this.post(this.link(to), base, '/raft/install_snapshot', body, Math.max(this.timeoutMs, 30_000));
          } catch (err) {
            if (++attempts > 5) throw err;
            await new Promise((r) => setTimeout(r, 100 * attempts));
            continue restart;
          }
          if (res.status === 409) {
            const expected = (JSON.parse(res.body) as { error?: { expectedOffset?: number } }).error?.expectedOffset;
            if (typeof expected !== 'number' || ++attempts > 5) throw new Error(`install_snapshot refused: ${res.body.slice(0, 200)}`);
            offset = expected;
            continue restart;
          }
          if (res.status !== 200 && res.status !== 204) throw new Error(`install_snapshot answered ${res.status}: ${res.body.slice(0, 200)}`);
          offset += data.byteLength;
          if (done) return;
          current = following;
        }
      }
    } finally {
      await reader.close();
    }
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) {
      if (link.retryTimer) clearTimeout(link.retryTimer);
      if (link.stream) this.dropStream(link, link.stream);
      link.agent.destroy();
    }
    this.links.clear();
  }

  private link(id: NodeId): PeerLink {
    let link = this.links.get(id);
    if (!link) {
      link = new PeerLink(id, this.maxInflight + 1, this.o.tls);
      this.links.set(id, link);
    }
    return link;
  }

  private flush(link: PeerLink): void {
    if (this.closed) return;
    const now = this.o.clock.monotonicMs();
    if (now < link.retryAtMs) {
      if (!link.retryTimer) {
        link.retryTimer = setTimeout(() => {
          link.retryTimer = null;
          this.flush(link);
        }, link.retryAtMs - now);
      }
      return;
    }
    if (now >= link.requestsUntilMs) {
      this.flushStream(link);
      return;
    }
    while (link.inflight < this.maxInflight && link.queue.length > 0) {
      const batch = link.queue;
      link.queue = [];
      const base = this.o.resolve(link.id);
      if (!base) return; // unknown peer: drop, the core will retry once the configuration names it
      // One request per endpoint family; usually there is only one.
      const groups = new Map<string, Message[]>();
      for (const m of batch) {
        const ep = endpointOf(m);
        (groups.get(ep) ?? groups.set(ep, []).get(ep)!).push(m);
      }
      for (const [path, msgs] of groups) {
        link.inflight++;
        this.post(link, base, path, encodeMessages(msgs), this.timeoutMs)
          .then((res) => {
            if (res.status >= 500) throw new Error(`peer answered ${res.status}`);
            if (res.status >= 400 && link.refusals++ % 100 === 0) {
              this.o.logger.warn('peer refused messages', { peer: link.id, status: res.status, body: res.body.slice(0, 300), count: link.refusals });
            }
            link.failures = 0;
          })
          .catch((err: Error) => this.failed(link, err))
          .finally(() => {
            link.inflight--;
            if (link.queue.length > 0) this.flush(link);
          });
      }
    }
  }

  private flushStream(link: PeerLink): void {
    if (link.queue.length === 0) return;
    const base = this.o.resolve(link.id);
    if (!base) {
      link.queue = []; // unknown peer: drop, the core will retry once the configuration names it
      return;
    }
    if (link.stream && this.o.clock.monotonicMs() - link.stream.openedAtMs > STREAM_ROTATE_MS) this.retireStream(link, link.stream);
    const stream = link.stream ?? this.openStream(link, base);
    // A backed-up stream: keep queueing (bounded); 'drain' flushes again.
    if (stream.req.writableNeedDrain) return;
    const frame = encodeStreamFrame(link.queue);
    link.queue = [];
    if (!stream.req.write(frame) && stream.stallTimer === null) {
      stream.stallTimer = setTimeout(() => stream.req.destroy(new Error('peer stream stalled')), this.timeoutMs);
      stream.stallTimer.unref();
    }
  }

  private openStream(link: PeerLink, base: string): PeerStream {
    const url = new URL(STREAM_PATH, base);
    const mod = url.protocol === 'https:' ? https : http;
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-conflux-raft-stream' };
    if (this.o.peerToken) headers.authorization = `Bearer ${this.o.peerToken}`;
    if (this.o.selfPeerURL) headers[PEER_URL_HEADER] = this.o.selfPeerURL;
    const req = mod.request(url, { method: 'POST', agent: link.agent, headers });
    const clock = this.o.clock;
    const stream: PeerStream = {
      req,
      stallTimer: null,
      heardAtMs: clock.monotonicMs(),
      openedAtMs: clock.monotonicMs(),
      // A peer that vanished without closing the connection (a partition) is noticed here.
      silenceCheck: setInterval(() => {
        if (clock.monotonicMs() - stream.heardAtMs > this.timeoutMs) req.destroy(new Error('peer stream silent'));
      }, Math.min(1000, this.timeoutMs)),
    };
    stream.silenceCheck.unref();
    link.stream = stream;
    req.on('drain', () => {
      if (stream.stallTimer) clearTimeout(stream.stallTimer);
      stream.stallTimer = null;
      if (link.stream === stream) this.flush(link);
    });
    req.on('response', (res) => {
      stream.heardAtMs = clock.monotonicMs();
      if (res.statusCode === 404 || res.statusCode === 405) {
        // An older peer: one request per batch for a while, then try the stream again.
        res.resume();
        this.o.logger.info('peer has no stream endpoint; sending requests', { peer: link.id, status: res.statusCode });
        link.requestsUntilMs = this.o.clock.monotonicMs() + STREAM_RETRY_MS;
        this.dropStream(link, stream);
        this.flush(link);
        return;
      }
      if (res.statusCode !== 200) {
        // Refused as a whole (a wrong peer token...): what a 4xx/5xx says on the other paths.
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const body = Buffer.concat(parts).toString('utf8').slice(0, 300);
          if ((res.statusCode ?? 0) < 500 && link.refusals++ % 100 === 0) {
            this.o.logger.warn('peer refused messages', { peer: link.id, status: res.statusCode, body, count: link.refusals });
          }
          this.streamFailed(link, stream, new Error(`peer answered ${res.statusCode}: ${body}`));
        });
        res.on('error', () => undefined);
        return;
      }
      // One JSON line per refused message or bad frame: logged like the other paths' 4xx answers.
      res.setEncoding('utf8');
      let carry = '';
      res.on('data', (text: string) => {
        stream.heardAtMs = clock.monotonicMs();
        const lines = (carry + text).split('\n');
        carry = lines.pop()!;
        for (const line of lines) {
          if (line !== '' && link.refusals++ % 100 === 0) {
            this.o.logger.warn('peer refused messages', { peer: link.id, body: line.slice(0, 300), count: link.refusals });
          }
        }
      });
      res.on('end', () => this.streamFailed(link, stream, new Error('peer closed the stream')));
      res.on('error', (err) => this.streamFailed(link, stream, err));
    });
    req.on('error', (err) => this.streamFailed(link, stream, err));
    req.on('close', () => this.streamFailed(link, stream, new Error('peer stream closed')));
    // Send the request head now: the peer learns about the stream before the first frame.
    req.flushHeaders();
    return stream;
  }

  /** The stream ended: a failure like a failed request (backoff; queued appends dropped). */
  private streamFailed(link: PeerLink, stream: PeerStream, err: Error): void {
    if (link.stream !== stream) return;
    this.dropStream(link, stream);
    if (this.closed) return;
    this.failed(link, err);
    if (link.queue.length > 0) this.flush(link);
  }

  /** Ends a stream cleanly (its frames still arrive) and stops watching it. */
  private retireStream(link: PeerLink, stream: PeerStream): void {
    if (link.stream === stream) link.stream = null;
    clearInterval(stream.silenceCheck);
    if (stream.stallTimer) clearTimeout(stream.stallTimer);
    stream.stallTimer = null;
    stream.req.end();
    // A peer that does not finish the exchange does not hold the socket forever.
    setTimeout(() => stream.req.destroy(), this.timeoutMs).unref();
  }

  private dropStream(link: PeerLink, stream: PeerStream): void {
    if (link.stream === stream) link.stream = null;
    clearInterval(stream.silenceCheck);
    if (stream.stallTimer) clearTimeout(stream.stallTimer);
    stream.stallTimer = null;
    stream.req.destroy();
  }

  private failed(link: PeerLink, err: Error): void {
    link.failures++;
    // Exponential backoff with jitter, 25 ms .. 1 s: a dead peer costs little, a returning one is
    // found again quickly.
    const base = Math.min(1000, 25 * 2 ** Math.min(link.failures, 6));
    link.retryAtMs = this.o.clock.monotonicMs() + base * (0.5 + this.o.rng.next() / 2);
    link.queue = link.queue.filter((m) => m.type !== 'append' && m.type !== 'heartbeat');
    if (link.failures === 1 || link.failures % 50 === 0) {
      this.o.logger.debug('peer unreachable', { peer: link.id, failures: link.failures, error: err.message });
    }
    this.o.onUnreachable(link.id);
  }

  private post(link: PeerLink, base: string, path: string, body: Buffer, timeoutMs: number): Promise<{ status: number; body: string }> {
    const url = new URL(path, base);
    const mod = url.protocol === 'https:' ? https : http;
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-conflux-raft', 'content-length': body.length };
    if (this.o.peerToken) headers.authorization = `Bearer ${this.o.peerToken}`;
    if (this.o.selfPeerURL) headers[PEER_URL_HEADER] = this.o.selfPeerURL;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method: 'POST', agent: link.agent, headers, timeout: timeoutMs }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('peer request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}
