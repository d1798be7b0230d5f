// Pod addresses and the hosts file that stands in for cluster DNS. Every pod gets its own
// 127.0.x.y (all of 127.0.0.0/8 is local on Linux, so no network namespace is needed) and a hosts
// file bind-mounted over /etc/hosts in its mount namespace, listing every pod's DNS name.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, REGISTRY } from './mount-points.js';

/**
 * Claims a 127.0.X. block for one kubelet (X in 100..249) through a lock file in the registry,
 * so kubelets of test files running at the same time never hand out the same pod address (nodes
 * listen on port 7070 of their pod address). A block whose owner process died is taken over.
 */
export function claimAddressBlock(): { prefix: string; release(): void } {
  mkdirSync(REGISTRY, { recursive: true });
  const start = process.pid % 150;
  for (let i = 0; i < 150; i++) {
    const octet = 100 + ((start + i) % 150);
    const file = join(REGISTRY, `net-${octet}`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        return { prefix: `127.0.${octet}.`, release: () => rmSync(file, { force: true }) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        let owner = 0;
        try {
          owner = Number(readFileSync(file, 'utf8'));
        } catch {
          // removed meanwhile: try again
        }
        if (owner !== 0 && alive(owner)) break;
        rmSync(file, { force: true });
      }
    }
  }
  throw new Error('no free 127.0.X. address block for a process kubelet');
}

/** Hands out 127.a.b.N addresses round-robin, so a released address is not reused at once. */
export class AddressPool {
  private readonly used = new Set<string>();
  private next: number;

  constructor(
    readonly prefix: string,
    private readonly first = 10,
    private readonly last = 250,
  ) {
    if (!/^127\.\d{1,3}\.\d{1,3}\.$/.test(prefix)) throw new Error(`address prefix ${prefix}: expected 127.a.b.`);
    this.next = first;
  }

  allocate(): string {
    for (let tried = 0; tried <= this.last - this.first; tried++) {
      const n = this.next;
      this.next = n >= this.last ? this.first : n + 1;
      const ip = `${this.prefix}${n}`;
      if (!this.used.has(ip)) {
        this.used.add(ip);
        return ip;
      }
    }
    throw new Error(`address pool ${this.prefix}${this.first}-${this.last} exhausted`);
  }

  release(ip: string): void {
    this.used.delete(ip);
  }

  get inUse(): number {
    return this.used.size;
  }
}

export interface HostEntry {
  ip: string;
  /** Fully qualified first, then aliases. */
  names: string[];
}

/** A pod's DNS names: `<hostname>.<subdomain>.<ns>.svc.<domain>` when it has a subdomain (StatefulSet pods do). */
export function podHostNames(pod: { name: string; namespace: string; hostname?: string | undefined; subdomain?: string | undefined }, clusterDomain: string): string[] {
  const hostname = pod.hostname ?? pod.name;
  if (pod.subdomain) return [`${hostname}.${pod.subdomain}.${pod.namespace}.svc.${clusterDomain}`, hostname];
  return [hostname];
}

/** The hosts file of one pod: localhost, every pod's FQDN, and its own short hostname. */
export function hostsFile(own: HostEntry, pods: HostEntry[]): string {
  const lines = ['# Managed by the Conflux process kubelet (test harness).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  lines.push(`${own.ip}\t${own.names.join(' ')}`);
  for (const p of pods) {
    if (p.ip === own.ip) continue;
    // Only qualified names: short hostnames of other pods would collide across namespaces.
    const qualified = p.names.filter((n) => n.includes('.'));
    if (qualified.length > 0) lines.push(`${p.ip}\t${qualified.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}
