// Three real conflux-node processes whose peer links (and forwarding) go through FaultProxies.
// Each node listens on its real ports; it advertises the proxy in front of them, so every
// connection one node opens to another passes the proxy, while the test's clients use the real
// client ports directly.
import { rmSync } from 'node:fs';
import { freePorts } from '../support/ports.js';
import { ProcessCluster, type ProcNode, type StatusBody } from '../support/process-cluster.js';
import { FaultProxies } from './proxy.js';

export interface ChaosNode {
  id: string;
  proc: ProcNode;
  /** Real client URL (what the workload uses). */
  client: string;
  /** Proxied URLs (what other nodes use). */
  peerProxyURL: string;
  clientProxyURL: string;
  paused: boolean;
  /** Set while a membership change owns the node (no kills or pauses meanwhile). */
  busy: boolean;
}

export class ChaosCluster {
  readonly procs: ProcessCluster;
  readonly proxies = new FaultProxies();
  readonly nodes = new Map<string, ChaosNode>();

  constructor(private readonly nodeArgs: string[]) {
    // 50 ms ticks: elections within 0.5-1 s, so faults and recoveries fit in a short run.
    this.procs = new ProcessCluster(['--heartbeat-interval-ms', '50']);
  }

  get root(): string {
    return this.procs.root;
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  node(id: string): ChaosNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  async start(ids: string[]): Promise<void> {
    const procs = await this.procs.define(ids);
    const proxyPorts = await freePorts(ids.length * 2);
    for (const [i, p] of procs.entries()) {
      const peerProxyPort = proxyPorts[2 * i]!;
      const clientProxyPort = proxyPorts[2 * i + 1]!;
      const n: ChaosNode = {
        id: p.id,
        proc: p,
        client: p.client,
        peerProxyURL: `http://127.0.0.1:${peerProxyPort}`,
        clientProxyURL: `http://127.0.0.1:${clientProxyPort}`,
        paused: false,
        busy: false,
      };
      this.nodes.set(p.id, n);
      this.proxies.addSender(n.peerProxyURL, n.id);
      await this.proxies.listen({ id: n.id, listenPort: peerProxyPort, targetPort: p.peerPort });
      await this.proxies.listen({ id: n.id, listenPort: clientProxyPort, targetPort: p.clientPort });
    }
    const initial = [...this.nodes.values()].map((n) => `${n.id}=${n.peerProxyURL}`).join(',');
    for (const n of this.nodes.values()) {
      n.proc.extraArgs = ['--initial-cluster', initial, ...this.advertise(n), ...this.nodeArgs];
      this.procs.start(n.id);
    }
  }

  private advertise(n: ChaosNode): string[] {
    return ['--advertise-peer', n.peerProxyURL, '--advertise-client', n.clientProxyURL];
  }

  isRunning(id: string): boolean {
    return this.procs.running().some((p) => p.id === id);
  }

  /** Nodes a client can reach right now (running; paused ones too: they just hang). */
  targets(): { id: string; url: string }[] {
    return this.ids().map((id) => ({ id, url: this.node(id).client }));
  }

  async kill(id: string): Promise<void> {
    const n = this.node(id);
    await this.procs.kill(id, 'SIGKILL');
    n.paused = false;
  }

  restart(id: string): void {
    if (!this.isRunning(id)) this.procs.start(id);
  }

  pause(id: string): void {
    const n = this.node(id);
    if (!this.isRunning(id) || n.paused) return;
    n.proc.proc!.kill('SIGSTOP');
    n.paused = true;
  }

  resume(id: string): void {
    const n = this.node(id);
    if (!n.paused) return;
    if (this.isRunning(id)) n.proc.proc!.kill('SIGCONT');
    n.paused = false;
  }

  /**
   * A replacement node for a removed member: same id and addresses, empty data directory, started
   * without bootstrap flags so that it waits to be added (what the operator does).
   */
  async wipeAndStartEmpty(id: string): Promise<void> {
    const n = this.node(id);
    await this.kill(id);
    rmSync(n.proc.dataDir, { recursive: true, force: true });
    n.proc.extraArgs = [...this.advertise(n), ...this.nodeArgs];
    this.procs.start(id);
  }

  async status(id: string, timeoutMs = 700): Promise<StatusBody | null> {
    if (this.node(id).paused || !this.isRunning(id)) return null;
    try {
      const r = await fetch(`${this.node(id).client}/admin/status`, { signal: AbortSignal.timeout(timeoutMs) });
      return r.ok ? ((await r.json()) as StatusBody) : null;
    } catch {
      return null;
    }
  }

  /** The node that says it leads with the highest term, if any (best effort, for nemeses). */
  async leader(): Promise<string | null> {
    const statuses = await Promise.all(this.ids().map((id) => this.status(id)));
    let best: StatusBody | null = null;
    for (const s of statuses) if (s?.role === 'leader' && (best === null || s.term > best.term)) best = s;
    return best?.id ?? null;
  }

  async destroy(keep: boolean): Promise<void> {
    for (const n of this.nodes.values()) this.resume(n.id);
    await this.proxies.close();
    await Promise.all(this.ids().map((id) => this.procs.kill(id, 'SIGKILL')));
    if (!keep && !process.env.KEEP_TEST_DIRS) rmSync(this.procs.root, { recursive: true, force: true });
  }
}
