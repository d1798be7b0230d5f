// Peer transport: HTTP keep-alive connections to each peer, one queue and one agent per peer so
// that a slow or dead peer never slows the others. Messages queued while a request is in flight
// leave together in the next request (batching); a few requests may be in flight per peer
// (pipelining). Failures drop the batch (Raft retransmits) and back off exponentially with jitter.
import http from 'node:http';
import https from 'node:https';
import type { Message, NodeId } from '../raft/types.js';
import type { Rng } from '../raft/rng.js';
import type { Clock } from './clock.js';
import type { PeerSender, SnapshotFiles } from './driver.js';
import type { Logger } from './logger.js';
import { encodeMessages } from './peer-codec.js';
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

class PeerLink {
  queue: Message[] = [];
  inflight = 0;
  failures = 0;
  refusals = 0;
  retryAtMs = 0;
  retryTimer: NodeJS.Timeout | null = null;
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
    this.flush(link);
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
