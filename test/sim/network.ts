// A seeded lossy network between simulated nodes: random delay (so reordering), loss, duplication,
// and partitions expressed as blocked directed links, so that symmetric and asymmetric partitions
// are the same mechanism. Links are checked when a packet would arrive, as a cut cable loses what
// is in flight.
import type { Message, NodeId } from '../../node/src/raft/types.js';
import type { EventQueue } from './event-queue.js';
import type { KvImage } from './kv.js';
import type { NetworkOptions } from './options.js';
import type { SimRng } from './random.js';

/** A message on the wire; a snapshot message carries the snapshot image beside it. */
export interface Packet {
  msg: Message;
  snapshot?: KvImage;
  /** Injected garbage: delivered as is (copying assumes a well-formed message). */
  raw?: boolean;
}

export type DeliveryOutcome = 'delivered' | 'lost' | 'unreachable';

export interface NetworkEndpoint {
  /** Hands a packet to the node, if it is running; false when nobody is listening. */
  receive(packet: Packet): boolean;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  unreachable: number;
}

export class SimNetwork {
  private blocked = new Set<string>();
  /**
   * Scripted scenarios drop (null) or alter chosen messages with this, e.g. keep a leader's new
   * entries from reaching anyone while its probes still get answers.
   */
  rewrite: ((msg: Message) => Message | null) | null = null;
  private endpoints = new Map<NodeId, NetworkEndpoint>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, unreachable: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: SimRng,
    public options: NetworkOptions,
  ) {}

  attach(id: NodeId, endpoint: NetworkEndpoint): void {
    this.endpoints.set(id, endpoint);
  }

  /**
   * Sends a packet. `onOutcome` (optional) learns, at arrival time, whether it was delivered, lost
   * silently, or refused (partition or nobody listening), which is what a real transport can tell.
   */
  send(from: NodeId, to: NodeId, packet: Packet, onOutcome?: (outcome: DeliveryOutcome) => void): void {
    this.stats.sent++;
    const copies = this.rng.chance(this.options.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      const lost = this.rng.chance(this.options.lossRate);
      const delay = this.delayMs();
      this.queue.after(delay, () => {
        const outcome = this.arrive(from, to, packet, lost);
        if (c === 0 && onOutcome !== undefined) onOutcome(outcome);
      });
    }
  }

  private arrive(from: NodeId, to: NodeId, packet: Packet, lost: boolean): DeliveryOutcome {
    if (this.rewrite !== null && packet.raw !== true) {
      const rewritten = this.rewrite(packet.msg);
      if (rewritten === null) lost = true;
      else packet = { ...packet, msg: rewritten };
    }
    if (lost) {
      this.stats.lost++;
      return 'lost';
    }
    const endpoint = this.endpoints.get(to);
    if (this.blocked.has(link(from, to)) || endpoint === undefined) {
      this.stats.unreachable++;
      return 'unreachable';
    }
    // Each delivery is its own object, as if decoded from the wire: no core shares objects with
    // another core.
    const delivered = packet.raw === true ? packet : { ...packet, msg: cloneMessage(packet.msg) };
    if (!endpoint.receive(delivered)) {
      this.stats.unreachable++;
      return 'unreachable';
    }
    this.stats.delivered++;
    return 'delivered';
  }

  private delayMs(): number {
    const o = this.options;
    if (this.rng.chance(o.tailRate)) return this.rng.real(o.delayMaxMs, o.tailMaxMs);
    return this.rng.real(o.delayMinMs, o.delayMaxMs);
  }

  /** Blocks from -> to (one direction). */
  block(from: NodeId, to: NodeId): void {
    this.blocked.add(link(from, to));
  }

  /** Two groups that cannot talk to each other in either direction. */
  partition(groupA: readonly NodeId[], groupB: readonly NodeId[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.block(a, b);
        this.block(b, a);
      }
    }
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(link(from, to));
  }

  blockedLinks(): string[] {
    return [...this.blocked].sort();
  }

  heal(): void {
    this.blocked.clear();
  }
}

function link(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

/** A structural copy, as a real transport would decode; entry payloads are shared (immutable). */
export function cloneMessage(msg: Message): Message {
  if (msg.type === 'append') {
    return { ...msg, entries: msg.entries.map((e) => ({ ...e })) };
  }
  if (msg.type === 'snapshot') {
    return { ...msg, meta: { ...msg.meta, membership: { members: msg.meta.membership.members.map((m) => ({ ...m })) } } };
  }
  if (msg.type === 'append_resp') return { ...msg, rejectHint: msg.rejectHint === null ? null : { ...msg.rejectHint } };
  return { ...msg };
}
