// A fault-injecting TCP proxy in front of each node's peer port (and its advertised client port,
// which only forwarding uses). Network namespaces need root; this needs nothing: every node
// advertises its proxy's URL, so every connection between nodes goes through here.
//
// The proxy learns who is calling from the first request on a connection: peer requests carry
// `conflux-peer-url` (the sender's advertised, i.e. proxied, peer URL) and forwarded client
// requests `conflux-forwarded-by` (the sender's id). Keep-alive connections carry one sender's
// traffic only (one agent per destination in the transport and the forwarder), so the first
// request names the connection. A fault on the directed link from -> to applies to the bytes of
// connections `from` opened towards `to`, both ways: Raft answers travel as requests of their own,
// so blocking from -> to alone is an asymmetric partition at the message level.
import net from 'node:net';

export type LinkFault =
  | { kind: 'ok' }
  /** New and open connections are reset: the sender sees errors at once. */
  | { kind: 'drop' }
  /** Bytes vanish: the sender sees timeouts. The connection stays poisoned after healing. */
  | { kind: 'blackhole' }
  /** Every chunk is held this long (order kept). */
  | { kind: 'delay'; ms: number };

const OK: LinkFault = { kind: 'ok' };
const HEADER_LIMIT = 64 * 1024;

export interface ProxyTarget {
  /** The node behind this proxy. */
  id: string;
  listenPort: number;
  targetPort: number;
}

interface Conn {
  from: string | null;
  to: string;
  client: net.Socket;
  upstream: net.Socket | null;
  poisoned: boolean;
}

export class FaultProxies {
  private readonly faults = new Map<string, LinkFault>();
  private readonly servers: net.Server[] = [];
  private readonly conns = new Set<Conn>();
  /** Sender id by advertised URL (`http://127.0.0.1:<port>`), for the conflux-peer-url header. */
  private readonly idByURL = new Map<string, string>();
  /** Bytes passed and discarded, for the run's report. */
  readonly stats = { connections: 0, reset: 0, blackholedBytes: 0, forwardedBytes: 0 };

  /** Name the sender of requests that carry `url` as their conflux-peer-url. */
  addSender(url: string, id: string): void {
    this.idByURL.set(url.replace(/\/$/, ''), id);
  }

  async listen(target: ProxyTarget): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket, target));
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target.listenPort, '127.0.0.1', () => resolve());
    });
    this.servers.push(server);
  }

  set(from: string, to: string, fault: LinkFault): void {
    if (fault.kind === 'ok') this.faults.delete(`${from}>${to}`);
    else this.faults.set(`${from}>${to}`, fault);
    if (fault.kind === 'drop') {
      for (const c of this.conns) if (c.from === from && c.to === to) this.reset(c);
    }
  }

  fault(from: string | null, to: string): LinkFault {
    if (from === null) return OK;
    return this.faults.get(`${from}>${to}`) ?? OK;
  }

  /** Every link back to normal (poisoned connections stay dead: their streams are corrupt). */
  healAll(): void {
    this.faults.clear();
  }

  activeFaults(): string[] {
    return [...this.faults.entries()].map(([link, f]) => `${link}:${f.kind}${f.kind === 'delay' ? f.ms : ''}`);
  }

  async close(): Promise<void> {
    for (const c of this.conns) this.reset(c);
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    this.servers.length = 0;
  }

  private reset(c: Conn): void {
    this.stats.reset++;
    c.client.destroy();
    c.upstream?.destroy();
    this.conns.delete(c);
  }

  private accept(client: net.Socket, target: ProxyTarget): void {
    this.stats.connections++;
    const c: Conn = { from: null, to: target.id, client, upstream: null, poisoned: false };
    this.conns.add(c);
    client.on('error', () => undefined);
    client.on('close', () => {
      c.upstream?.destroy();
      this.conns.delete(c);
    });
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < HEADER_LIMIT) return;
      client.off('data', onData);
      c.from = this.sender(head.subarray(0, end < 0 ? head.length : end).toString('latin1'));
      this.connectUpstream(c, target, head);
    };
    client.on('data', onData);
  }

  private sender(headers: string): string | null {
    for (const line of headers.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'conflux-peer-url') return this.idByURL.get(value.replace(/\/$/, '')) ?? null;
      if (name === 'conflux-forwarded-by') return value;
    }
    return null;
  }

  private connectUpstream(c: Conn, target: ProxyTarget, first: Buffer): void {
    const f = this.fault(c.from, c.to);
    if (f.kind === 'drop') return this.reset(c);
    const upstream = net.connect(target.targetPort, '127.0.0.1');
    c.upstream = upstream;
    upstream.on('error', () => c.client.destroy());
    upstream.on('close', () => c.client.destroy());
    const toServer = this.pipe(c, upstream);
    const toClient = this.pipe(c, c.client);
    toServer(first);
    c.client.on('data', toServer);
    upstream.on('data', toClient);
  }

  /** A writer that applies the link's current fault to every chunk, keeping order under delays. */
  private pipe(c: Conn, out: net.Socket): (chunk: Buffer) => void {
    let tail = Promise.resolve();
    return (chunk: Buffer) => {
      if (c.poisoned) {
        this.stats.blackholedBytes += chunk.length;
        return;
      }
      const f = this.fault(c.from, c.to);
      switch (f.kind) {
        case 'drop':
          this.reset(c);
          return;
        case 'blackhole':
          c.poisoned = true;
          this.stats.blackholedBytes += chunk.length;
          return;
        case 'delay':
          tail = tail.then(() => new Promise((r) => setTimeout(r, f.ms))).then(() => this.write(c, out, chunk));
          return;
        case 'ok':
          tail = tail.then(() => this.write(c, out, chunk));
          return;
      }
    };
  }

  private write(c: Conn, out: net.Socket, chunk: Buffer): void {
    if (c.poisoned || out.destroyed) return;
    this.stats.forwardedBytes += chunk.length;
    out.write(chunk);
  }
}
