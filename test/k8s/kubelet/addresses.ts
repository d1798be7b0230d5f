// Pod addresses and the hosts file that stands in for cluster DNS. Every pod gets its own
// 127.0.x.y (all of 127.0.0.0/8 is local on Linux, so no network namespace is needed) and a hosts
// file bind-mounted over /etc/hosts in its mount namespace, listing every pod's DNS name.

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
