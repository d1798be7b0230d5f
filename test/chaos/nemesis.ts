// Nemeses on a seeded schedule: process faults (SIGKILL + restart of a random node or the leader,
// SIGSTOP/SIGCONT), network faults on the proxied links (majority/minority, isolating the leader,
// a bridge, one-way links, delays), membership changes (remove a member and add it back as a
// new, empty node, the operator's way) running alongside the others, and whole-cluster power loss.
// One fault at a time is active from the main schedule; a membership change may overlap it.
import { seededRng, type Rng } from '../../node/src/raft/rng.js';
import type { ChaosCluster } from './chaos-cluster.js';
import type { LinkFault } from './proxy.js';

export type NemesisKind =
  | 'kill-random'
  | 'kill-leader'
  | 'pause-random'
  | 'pause-leader'
  | 'partition-minority'
  | 'isolate-leader'
  | 'bridge'
  | 'asymmetric'
  | 'delay'
  | 'power-loss';

export const PROCESS_NEMESES: NemesisKind[] = ['kill-random', 'kill-leader', 'pause-random', 'pause-leader'];
export const NETWORK_NEMESES: NemesisKind[] = ['partition-minority', 'isolate-leader', 'bridge', 'asymmetric', 'delay'];
export const ALL_NEMESES: NemesisKind[] = [...PROCESS_NEMESES, ...NETWORK_NEMESES, 'power-loss'];

export interface NemesisEvent {
  kind: string;
  detail: string;
  startMs: number;
  endMs?: number;
  /** Set when the fault could not be applied as planned (e.g. no leader to isolate). */
  skipped?: string;
}

export interface NemesisOptions {
  seed: number;
  kinds: NemesisKind[];
  /** Quiet time between faults, and how long each fault holds. */
  gapMs: [number, number];
  holdMs: [number, number];
  /** Remove and re-add a member every so often (0: never). */
  membershipEveryMs: number;
  now: () => number;
  log: (line: string) => void;
}

export class Nemesis {
  readonly events: NemesisEvent[] = [];
  private readonly rng: Rng;
  private readonly memberRng: Rng;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private wakers = new Set<() => void>();

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly o: NemesisOptions,
  ) {
    this.rng = seededRng(o.seed);
    this.memberRng = seededRng(o.seed ^ 0x5eed);
  }

  start(): void {
    if (this.o.kinds.length > 0) this.loops.push(this.faultLoop());
    if (this.o.membershipEveryMs > 0) this.loops.push(this.membershipLoop());
  }

  /** Stops scheduling; the fault in progress is healed and a membership change runs to its end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of [...this.wakers]) w();
    await Promise.all(this.loops);
  }

  /** Everything back to normal: links healed, processes resumed and restarted. */
  async healAll(): Promise<void> {
    this.cluster.proxies.healAll();
    for (const id of this.cluster.ids()) {
      this.cluster.resume(id);
      if (!this.cluster.node(id).busy) this.cluster.restart(id);
    }
  }

  survived(): number {
    return this.events.filter((e) => e.skipped === undefined && e.endMs !== undefined).length;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private between([min, max]: [number, number], rng = this.rng): number {
    return rng.int(min, max + 1);
  }

  private async faultLoop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep(this.between(this.o.gapMs));
      if (this.stopped) return;
      const kind = this.o.kinds[this.rng.int(0, this.o.kinds.length)]!;
      const hold = this.between(this.o.holdMs);
      const event: NemesisEvent = { kind, detail: '', startMs: this.o.now() };
      this.events.push(event);
      try {
        const heal = await this.inject(kind, event);
        if (heal === null) {
          event.endMs = this.o.now();
          continue;
        }
        this.o.log(`nemesis ${kind} ${event.detail} for ${hold} ms`);
        await this.sleep(hold);
        await heal();
      } catch (err) {
        event.skipped = `failed: ${String(err)}`;
        await this.healAll();
      }
      event.endMs = this.o.now();
    }
  }

  /** Nodes a process fault may hit (a membership change owns its node). */
  private stable(): string[] {
    return this.cluster.ids().filter((id) => !this.cluster.node(id).busy && this.cluster.isRunning(id));
  }

  private pick<T>(list: T[]): T | undefined {
    return list.length === 0 ? undefined : list[this.rng.int(0, list.length)];
  }

  private async leaderOr(event: NemesisEvent): Promise<string | null> {
    const leader = await this.cluster.leader();
    if (leader === null) event.skipped = 'no leader';
    return leader;
  }

  /** Applies the fault; returns how to heal it, or null when it was skipped. */
  private async inject(kind: NemesisKind, event: NemesisEvent): Promise<(() => Promise<void>) | null> {
    const c = this.cluster;
    const ids = c.ids();
    switch (kind) {
      case 'kill-random':
      case 'kill-leader': {
        const target = kind === 'kill-leader' ? await this.leaderOr(event) : this.pick(this.stable()) ?? null;
        if (target === null || c.node(target).busy) return (event.skipped ??= 'no target'), null;
        event.detail = target;
        await c.kill(target);
        return async () => c.restart(target);
      }
      case 'pause-random':
      case 'pause-leader': {
        const target = kind === 'pause-leader' ? await this.leaderOr(event) : this.pick(this.stable()) ?? null;
        if (target === null || c.node(target).busy) return (event.skipped ??= 'no target'), null;
        event.detail = target;
        c.pause(target);
        return async () => c.resume(target);
      }
      case 'power-loss': {
        event.detail = ids.filter((id) => !c.node(id).busy).join(',');
        const victims = ids.filter((id) => !c.node(id).busy);
        for (const id of victims) c.resume(id);
        await Promise.all(victims.map((id) => c.kill(id)));
        return async () => {
          for (const id of victims) c.restart(id);
        };
      }
      case 'partition-minority':
      case 'isolate-leader': {
        const target = kind === 'isolate-leader' ? await this.leaderOr(event) : this.pick(ids) ?? null;
        if (target === null) return null;
        const fault = this.linkFault();
        event.detail = `${target} | ${ids.filter((i) => i !== target).join(',')} (${fault.kind})`;
        for (const other of ids) {
          if (other === target) continue;
          c.proxies.set(target, other, fault);
          c.proxies.set(other, target, fault);
        }
        return async () => c.proxies.healAll();
      }
      case 'bridge': {
        // With three nodes: two of them cannot talk, the third talks to both.
        const shuffled = [...ids].sort(() => this.rng.next() - 0.5);
        const [x, bridge, y] = shuffled as [string, string, string];
        const fault = this.linkFault();
        event.detail = `${x} - ${bridge} - ${y} (${fault.kind})`;
        c.proxies.set(x, y, fault);
        c.proxies.set(y, x, fault);
        return async () => c.proxies.healAll();
      }
      case 'asymmetric': {
        // One node's outgoing links are cut, its incoming ones work (or the reverse): it hears
        // the others but cannot answer, or speaks without hearing.
        const leader = this.rng.next() < 0.5 ? await c.leader() : null;
        const target = leader ?? this.pick(ids)!;
        const outgoing = this.rng.next() < 0.5;
        const fault = this.linkFault();
        event.detail = `${target} ${outgoing ? 'cannot send' : 'cannot receive'} (${fault.kind})${leader ? ' [leader]' : ''}`;
        for (const other of ids) {
          if (other === target) continue;
          if (outgoing) c.proxies.set(target, other, fault);
          else c.proxies.set(other, target, fault);
        }
        return async () => c.proxies.healAll();
      }
      case 'delay': {
        const ms = this.rng.int(20, 150);
        event.detail = `${ms} ms on every link`;
        for (const a of ids) for (const b of ids) if (a !== b) c.proxies.set(a, b, { kind: 'delay', ms });
        return async () => c.proxies.healAll();
      }
    }
  }

  private linkFault(): LinkFault {
    return this.rng.next() < 0.5 ? { kind: 'drop' } : { kind: 'blackhole' };
  }

  // ---------------------------------------------------------------------------- membership

  private async membershipLoop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep(this.between([Math.floor(this.o.membershipEveryMs / 2), this.o.membershipEveryMs], this.memberRng));
      if (this.stopped) return;
      await this.replaceMember();
    }
  }

  /**
   * Remove a member (sometimes the leader) through the admin API and add it back as an empty node,
   * retrying through the faults of the main schedule. Runs to its end even after `stop()` so that
   * the cluster is whole again before the checks.
   */
  async replaceMember(): Promise<void> {
    const c = this.cluster;
    const ids = c.ids();
    const leader = this.memberRng.next() < 0.4 ? await c.leader() : null;
    const victim = leader ?? ids[this.memberRng.int(0, ids.length)]!;
    const event: NemesisEvent = { kind: 'member-replace', detail: `${victim}${leader ? ' [leader]' : ''}`, startMs: this.o.now() };
    this.events.push(event);
    const node = c.node(victim);
    node.busy = true;
    try {
      c.resume(victim);
      this.o.log(`nemesis member-replace ${event.detail}: removing`);
      await this.admin(`remove ${victim}`, ids.filter((id) => id !== victim), 'DELETE', `/admin/members/${victim}`, undefined, [404]);
      // The removal must be committed before the id is reused (a leader confirms it is gone).
      await this.until(`${victim} gone from the configuration`, async () => {
        for (const id of ids.filter((i) => i !== victim)) {
          const r = await this.call(id, 'GET', '/admin/members');
          if (r?.status === 200) {
            const view = JSON.parse(r.body) as { leaderId: string | null; members: { id: string }[] };
            if (view.leaderId !== null && view.leaderId !== victim && !view.members.some((m) => m.id === victim)) return true;
          }
        }
        return false;
      });
      await c.wipeAndStartEmpty(victim);
      const fresh = await this.until(`${victim} to serve again`, () => c.status(victim));
      this.o.log(`nemesis member-replace ${victim}: adding back as ${fresh.incarnation}`);
      const body = JSON.stringify({ id: victim, peerURL: node.peerProxyURL, clientURL: node.clientProxyURL, incarnation: fresh.incarnation });
      await this.admin(`add ${victim}`, ids.filter((id) => id !== victim), 'POST', '/admin/members', body, []);
      await this.admin(`promote ${victim}`, ids.filter((id) => id !== victim), 'POST', `/admin/members/${victim}/promote`, undefined, []);
      event.endMs = this.o.now();
      this.o.log(`nemesis member-replace ${victim}: done`);
    } catch (err) {
      event.skipped = `failed: ${String(err)}`;
      throw err;
    } finally {
      node.busy = false;
    }
  }

  private async call(id: string, method: string, path: string, body?: string): Promise<{ status: number; body: string } | null> {
    try {
      const r = await fetch(`${this.cluster.node(id).client}${path}`, {
        method,
        body,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(20_000),
      });
      return { status: r.status, body: await r.text() };
    } catch {
      return null;
    }
  }

  /** An admin call through any of `via`, retried (503, 504, 409, unreachable) until it succeeds. */
  private async admin(what: string, via: string[], method: string, path: string, body: string | undefined, alsoOk: number[]): Promise<void> {
    await this.until(what, async () => {
      for (const id of via) {
        const r = await this.call(id, method, path, body);
        if (r !== null && (r.status < 300 || alsoOk.includes(r.status))) return true;
        if (r !== null && r.status >= 400 && r.status < 500 && ![404, 409].includes(r.status)) throw new Error(`${what}: ${r.status} ${r.body}`);
      }
      return false;
    });
  }

  private async until<T>(what: string, f: () => Promise<T | null | false>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`membership change: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
