// What the operator e2e scenarios read from the API server and from the Conflux pods: the
// ConfluxCluster's status, pods and their addresses, the admin token, members, and a client that
// writes continuously (by pod IP, never through a Service ClusterIP) and records what was
// acknowledged.
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ConfluxCluster } from '../../../operator/src/api/types.js';
import { isNotFound, type KubeRest } from '../kubelet/rest.js';

export interface Member {
  id: string;
  incarnation: string | number;
  role: string;
  healthy: boolean;
}

export class ClusterView {
  constructor(
    readonly rest: KubeRest,
    readonly namespace: string,
    readonly name: string,
  ) {}

  async cluster(): Promise<ConfluxCluster | null> {
    try {
      return await this.rest.get<ConfluxCluster>(`/apis/conflux.io/v1alpha1/namespaces/${this.namespace}/confluxclusters/${this.name}`);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async pods(): Promise<V1Pod[]> {
    const sel = encodeURIComponent(`app.kubernetes.io/instance=${this.name},app.kubernetes.io/component=node`);
    const list = await this.rest.get<{ items: V1Pod[] }>(`/api/v1/namespaces/${this.namespace}/pods?labelSelector=${sel}`);
    return list.items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
  }

  async pod(name: string): Promise<V1Pod | null> {
    try {
      return await this.rest.get<V1Pod>(`/api/v1/namespaces/${this.namespace}/pods/${name}`);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async claims(): Promise<V1PersistentVolumeClaim[]> {
    const list = await this.rest.get<{ items: V1PersistentVolumeClaim[] }>(`/api/v1/namespaces/${this.namespace}/persistentvolumeclaims`);
    return list.items.filter((c) => c.metadata!.name!.startsWith(`data-${this.name}-`));
  }

  async volumes(): Promise<V1PersistentVolume[]> {
    return (await this.rest.get<{ items: V1PersistentVolume[] }>('/api/v1/persistentvolumes')).items;
  }

  /** Client URLs of the running pods with an address, by pod name. */
  async endpoints(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const p of await this.pods()) {
      if (p.status?.phase === 'Running' && p.status.podIP && !p.metadata?.deletionTimestamp) out.set(p.metadata!.name!, `http://${p.status.podIP}:7070`);
    }
    return out;
  }

  async adminToken(): Promise<string> {
    const s = await this.rest.get<V1Secret>(`/api/v1/namespaces/${this.namespace}/secrets/${this.name}-auth`);
    return Buffer.from(s.data!['admin-token']!, 'base64').toString('utf8');
  }

  /**
   * True when the operator reports the cluster Available and Running with exactly `voters` healthy
   * voters named <name>-0..N-1, no learner, and that many ready pods.
   */
  async converged(voters: number): Promise<ConfluxCluster | false> {
    const c = await this.cluster();
    const s = c?.status;
    if (!c || !s) return false;
    const available = s.conditions?.find((x) => x.type === 'Available')?.status === 'True';
    const names = (s.members ?? []).map((m) => m.name).sort();
    const expected = Array.from({ length: voters }, (_, i) => `${this.name}-${i}`).sort();
    const ok =
      available &&
      s.phase === 'Running' &&
      s.observedGeneration === c.metadata.generation &&
      (s.members ?? []).every((m) => m.role === 'voter' && m.healthy) &&
      JSON.stringify(names) === JSON.stringify(expected) &&
      s.readyReplicas === voters;
    return ok ? c : false;
  }

  /** The leader's view of the members (asked through any answering pod). */
  async members(): Promise<{ leaderId: string; members: Member[] }> {
    const token = await this.adminToken();
    let last: unknown;
    for (const url of (await this.endpoints()).values()) {
      try {
        const r = await fetch(`${url}/admin/members`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
        if (r.ok) return (await r.json()) as { leaderId: string; members: Member[] };
        last = new Error(`${url}: ${r.status} ${await r.text()}`);
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no pod answered /admin/members: ${String(last)}`);
  }
}

export interface WriterReport {
  acknowledged: Map<string, string>;
  /** Every answer that was not a success, by status ('network' for no answer). */
  failures: Map<string, number>;
  attempts: number;
}

/**
 * One client writing distinct keys one after another for as long as it runs, spreading writes over
 * the given pods. A 503 (not applied) is retried, as the API contract allows; every other failure
 * is recorded, and the write retried with the same value (a 504 may still have applied it).
 */
export class ContinuousWriter {
  private stopped = false;
  private done: Promise<void> | null = null;
  readonly report: WriterReport = { acknowledged: new Map(), failures: new Map(), attempts: 0 };

  constructor(
    private readonly endpoints: () => Promise<string[]>,
    private readonly token: string,
    private readonly prefix: string,
  ) {}

  start(): void {
    this.done = (async () => {
      let urls: string[] = [];
      let turn = 0;
      for (let seq = 0; !this.stopped; seq++) {
        const key = `${this.prefix}/${String(seq).padStart(6, '0')}`;
        const value = `value-${seq}`;
        for (;;) {
          if (turn % 20 === 0 || urls.length === 0) urls = await this.endpoints().catch(() => urls);
          const url = urls[turn++ % Math.max(urls.length, 1)];
          if (url === undefined) {
            await sleep(200);
            continue;
          }
          this.report.attempts++;
          let status: string;
          try {
            const r = await fetch(`${url}/v1/kv/${key}`, {
              method: 'PUT',
              body: value,
              headers: { authorization: `Bearer ${this.token}`, 'content-type': 'text/plain' },
              signal: AbortSignal.timeout(30_000),
            });
            await r.arrayBuffer();
            if (r.status === 200 || r.status === 201) {
              this.report.acknowledged.set(key, value);
              break;
            }
            status = String(r.status);
          } catch (err) {
            status = `network: ${(err as Error).message}`;
          }
          this.report.failures.set(status, (this.report.failures.get(status) ?? 0) + 1);
          await sleep(100);
        }
        await sleep(20);
      }
    })();
  }

  async stop(): Promise<WriterReport> {
    this.stopped = true;
    await this.done;
    return this.report;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keys of `acknowledged` whose linearizable read does not give the acknowledged value. */
export async function lostWrites(url: string, token: string, acknowledged: Map<string, string>): Promise<string[]> {
  const lost: string[] = [];
  for (const [key, value] of acknowledged) {
    for (let attempt = 0; ; attempt++) {
      // A pod whose container is being restarted (a liveness probe on a loaded machine) refuses
      // connections for a while: that is not a lost write, so it is asked again, like a 503.
      const r = await fetch(`${url}/v1/kv/${key}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) }).catch((err: unknown) => {
        if (attempt < 150) return null;
        throw err;
      });
      if (r === null) {
        await sleep(200);
        continue;
      }
      const body = await r.text();
      if (r.status === 503 && attempt < 50) {
        await sleep(200);
        continue;
      }
      if (r.status !== 200 || body !== value) lost.push(`${key}: ${r.status} ${body.slice(0, 80)}`);
      break;
    }
  }
  return lost;
}
