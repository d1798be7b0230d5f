// The process kubelet: a test-only stand-in for the kubelet that runs the pods bound to its Node
// as local process groups (see test/k8s/README.md, "Process kubelet and the e2e scenarios").
//
// It registers a Node (Ready, capacity) and renews its Lease in kube-node-lease; acts as the
// provisioner of a hostPath PersistentVolume per pending PVC (one directory per claim, removed when
// the claim is deleted); and polls the Pods bound to it (a list with fieldSelector spec.nodeName
// every `syncMs`: simpler and sturdier than an informer, which stops on any error but 410 and can
// hang on a half-open connection) to start new pods and terminate deleted ones.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { AddressPool, claimAddressBlock, type HostEntry } from './addresses.js';
import { MountPoints } from './mount-points.js';
import { PodRunner, type PodHost } from './pod-runner.js';
import { isConflict, isNotFound, KubeRest } from './rest.js';

export interface ProcessKubeletOptions {
  kubeConfig: KubeConfig;
  nodeName?: string;
  /** Pod addresses are `${addressPrefix}N`, N in 10..250 (default: a 127.0.X. block claimed for this kubelet). */
  addressPrefix?: string;
  clusterDomain?: string;
  syncMs?: number;
  leaseRenewMs?: number;
  /** Logged lines (default: none); pod output goes to files, see logs(). */
  log?: (line: string) => void;
}

const PROVISIONER_LABEL = 'conflux.test/process-kubelet';
const KUBELET_VERSION = 'v1.34.0';
const microTime = (d = new Date()) => d.toISOString().replace(/Z$/, '000Z');

export class ProcessKubelet {
  readonly nodeName: string;
  readonly hostIP = '127.0.0.1';
  readonly rootDir: string;
  private rest!: KubeRest;
  private readonly pool: AddressPool;
  private readonly clusterDomain: string;
  private readonly pods = new Map<string, PodRunner>();
  private readonly mountPoints: MountPoints;
  private readonly block: { prefix: string; release(): void } | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private syncing: Promise<void> | null = null;
  private apiServer: { host: string; port: string } | null = null;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: ProcessKubeletOptions) {
    this.nodeName = opts.nodeName ?? 'process-node';
    if (opts.addressPrefix !== undefined) this.pool = new AddressPool(opts.addressPrefix);
    else {
      this.block = claimAddressBlock();
      this.pool = new AddressPool(this.block.prefix);
    }
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    this.rootDir = mkdtempSync(join(tmpdir(), 'process-kubelet-'));
    this.log = opts.log ?? (() => undefined);
    this.mountPoints = new MountPoints(this.nodeName);
  }

  get addressPrefix(): string {
    return this.pool.prefix;
  }

  async start(): Promise<void> {
    this.rest = await KubeRest.fromKubeConfig(this.opts.kubeConfig);
    const server = new URL(this.opts.kubeConfig.getCurrentCluster()!.server);
    if (server.hostname.startsWith('127.') || server.hostname === 'localhost') this.apiServer = { host: server.hostname, port: server.port || '443' };
    await this.registerNode();
    await this.renewLease();
    this.every(this.opts.leaseRenewMs ?? 10_000, () => this.renewLease());
    this.every(60_000, () => this.patchNodeStatus());
    this.every(this.opts.syncMs ?? 500, () => this.sync());
  }

  /** Kills every pod (SIGTERM, then SIGKILL after 2 s), deletes the Node, removes its directories. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.syncing;
    await Promise.all([...this.pods.values()].map((p) => p.terminate(2, false)));
    try {
      await this.rest?.delete(`/api/v1/nodes/${this.nodeName}`);
    } catch {
      // the control plane may be gone already
    }
    rmSync(this.rootDir, { recursive: true, force: true });
    this.block?.release();
    this.mountPoints.release();
  }

  /** A running pod's container output (for test failure messages). */
  logs(namespace: string, name: string, container?: string): string {
    for (const p of this.pods.values()) if (p.namespace === namespace && p.name === name) return p.logs(container);
    return '';
  }

  /** The pods this kubelet runs now, with their addresses. */
  runningPods(): { namespace: string; name: string; uid: string; ip: string | null }[] {
    return [...this.pods.values()].map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid, ip: p.ip }));
  }

  private every(ms: number, f: () => Promise<void>): void {
    let busy = false;
    this.timers.push(
      setInterval(() => {
        if (busy || this.stopped) return;
        busy = true;
        f()
          .catch((err: Error) => this.log(`kubelet: ${err.message}`))
          .finally(() => {
            busy = false;
          });
      }, ms),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Node and Lease

  private async registerNode(): Promise<void> {
    try {
      await this.rest.create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: this.nodeName,
          labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'arm64' ? 'arm64' : 'amd64' },
        },
        spec: {},
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    await this.patchNodeStatus();
  }

  private async patchNodeStatus(): Promise<void> {
    const t = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: t });
    const resources = { cpu: '16', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' };
    await this.rest.patch(
      `/api/v1/nodes/${this.nodeName}/status`,
      {
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [
            cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'process kubelet'),
            cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'process kubelet'),
            cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'process kubelet'),
            cond('Ready', 'True', 'KubeletReady', 'process kubelet is posting ready status'),
          ],
          addresses: [
            { type: 'InternalIP', address: this.hostIP },
            { type: 'Hostname', address: this.nodeName },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
          nodeInfo: {
            machineID: 'process-kubelet',
            systemUUID: 'process-kubelet',
            bootID: 'process-kubelet',
            kernelVersion: 'process',
            osImage: 'process kubelet (Conflux tests)',
            containerRuntimeVersion: 'process://1',
            kubeletVersion: KUBELET_VERSION,
            kubeProxyVersion: '',
            operatingSystem: 'linux',
            architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
          },
        },
      },
      'strategic',
    );
  }

  private async renewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.nodeName}`;
    const spec = { holderIdentity: this.nodeName, leaseDurationSeconds: 40, renewTime: microTime() };
    try {
      await this.rest.patch(path, { spec });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.rest.create(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases`, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.nodeName, namespace: 'kube-node-lease' },
        spec,
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sync loop

  private sync(): Promise<void> {
    this.syncing = (async () => {
      await this.provision();
      const list = await this.rest.get<{ items: V1Pod[] }>(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.nodeName}`)}`);
      if (this.stopped) return;
      const seen = new Set<string>();
      for (const pod of list.items) {
        const uid = pod.metadata!.uid!;
        seen.add(uid);
        let runner = this.pods.get(uid);
        const grace = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
        if (runner === undefined) {
          if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
          runner = new PodRunner(pod, this.podHost(), this.rootDir);
          this.pods.set(uid, runner);
          if (pod.metadata?.deletionTimestamp) {
            void runner.terminate(0);
            continue;
          }
          this.log(`kubelet: starting pod ${runner.namespace}/${runner.name}`);
          const r = runner;
          r.start().catch((err: Error) => this.log(`kubelet: pod ${r.namespace}/${r.name} failed to start: ${err.message}`));
          continue;
        }
        runner.update(pod);
        if (pod.metadata?.deletionTimestamp && !runner.isTerminating) {
          this.log(`kubelet: terminating pod ${runner.namespace}/${runner.name} (grace ${grace} s)`);
          void runner.terminate(grace);
        }
      }
      // Gone from the API server (force-deleted): stop at once.
      for (const [uid, runner] of this.pods) if (!seen.has(uid) && !runner.isTerminating) void runner.terminate(0, false);
    })();
    return this.syncing;
  }

  private podHost(): PodHost {
    return {
      rest: this.rest,
      nodeName: this.nodeName,
      hostIP: this.hostIP,
      clusterDomain: this.clusterDomain,
      apiServer: this.apiServer,
      allocateIP: () => this.pool.allocate(),
      releaseIP: (ip) => this.pool.release(ip),
      hostEntries: () => [...this.pods.values()].filter((p) => !p.isTerminating).map((p) => p.hostEntry()).filter((e): e is HostEntry => e !== null),
      addressesChanged: () => {
        for (const p of this.pods.values()) p.writeHosts();
      },
      ensureMountPoint: (path, isFile) => this.mountPoints.ensure(path, isFile),
      claimDirectory: (ns, claim) => this.claimDirectory(ns, claim),
      log: (m) => this.log(m),
      gone: (uid) => {
        this.pods.delete(uid);
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Volumes: a hostPath PV per pending claim, deleted (with its directory) with the claim

  private claimDir(pvc: V1PersistentVolumeClaim): string {
    return join(this.rootDir, 'volumes', `${pvc.metadata!.namespace}_${pvc.metadata!.name}_${pvc.metadata!.uid!.slice(0, 8)}`);
  }

  private async claimDirectory(namespace: string, claim: string): Promise<string | null> {
    const pvc = await this.rest.get<V1PersistentVolumeClaim>(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claim}`);
    if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) return null;
    if (pvc.metadata?.deletionTimestamp) throw new Error(`PVC ${claim} is being deleted`);
    const pv = await this.rest.get<V1PersistentVolume>(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
    const path = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
    if (!path) throw new Error(`PV ${pv.metadata?.name} has no hostPath`);
    mkdirSync(path, { recursive: true });
    return path;
  }

  private async provision(): Promise<void> {
    const [claims, volumes] = await Promise.all([
      this.rest.get<{ items: V1PersistentVolumeClaim[] }>('/api/v1/persistentvolumeclaims'),
      this.rest.get<{ items: V1PersistentVolume[] }>(`/api/v1/persistentvolumes?labelSelector=${encodeURIComponent(`${PROVISIONER_LABEL}=${this.nodeName}`)}`),
    ]);
    const byClaimUid = new Map(volumes.items.map((v) => [v.spec?.claimRef?.uid ?? '', v]));
    const claimUids = new Set(claims.items.map((c) => c.metadata!.uid!));
    for (const pvc of claims.items) {
      if (pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp || byClaimUid.has(pvc.metadata!.uid!)) continue;
      const dir = this.claimDir(pvc);
      mkdirSync(dir, { recursive: true });
      try {
        await this.rest.create('/api/v1/persistentvolumes', {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: `pvc-${pvc.metadata!.uid}`, labels: { [PROVISIONER_LABEL]: this.nodeName } },
          spec: {
            capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
            accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName: pvc.spec?.storageClassName ?? '',
            volumeMode: 'Filesystem',
            hostPath: { path: dir, type: 'DirectoryOrCreate' },
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: pvc.metadata!.namespace, name: pvc.metadata!.name, uid: pvc.metadata!.uid },
          },
        });
        this.log(`kubelet: provisioned PV for PVC ${pvc.metadata!.namespace}/${pvc.metadata!.name}`);
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    // A claim that is gone: its directory and PV go too (reclaim policy Delete, done here).
    for (const pv of volumes.items) {
      const uid = pv.spec?.claimRef?.uid;
      if (uid !== undefined && claimUids.has(uid)) continue;
      const path = pv.spec?.hostPath?.path;
      if (path && path.startsWith(join(this.rootDir, 'volumes'))) rmSync(path, { recursive: true, force: true });
      try {
        await this.rest.delete(`/api/v1/persistentvolumes/${pv.metadata!.name}`);
        this.log(`kubelet: deleted PV ${pv.metadata!.name} of a deleted claim`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}
