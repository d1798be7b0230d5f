// One pod on the process kubelet: its address, volumes, containers as process groups in a private
// mount + UTS namespace (`unshare --mount --uts --fork`), probes, status reports, and termination
// (SIGTERM to the process group, SIGKILL after the grace period, then the Pod deleted with
// gracePeriodSeconds 0 and a UID precondition).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus, V1Probe, V1Volume } from '@kubernetes/client-node';
import { hostsFile, podHostNames, type HostEntry } from './addresses.js';
import { containerEnv, decodeSecretData, expand, type EnvSources } from './env.js';
import { containerArgv, writeImageBin } from './images.js';
import { ProbeState, runProbe, type ProbeResult } from './probes.js';
import { isConflict, isNotFound, type KubeRest } from './rest.js';

/** What a pod needs from its kubelet. */
export interface PodHost {
  rest: KubeRest;
  nodeName: string;
  hostIP: string;
  clusterDomain: string;
  /** The API server as `KUBERNETES_SERVICE_HOST/PORT` (never a ClusterIP). */
  apiServer: { host: string; port: string } | null;
  allocateIP(): string;
  releaseIP(ip: string): void;
  /** Every pod's address and names, for the hosts files. */
  hostEntries(): HostEntry[];
  /** A pod got or lost an address: rewrite every pod's hosts file. */
  addressesChanged(): void;
  /** Makes a mount point exist on the host (recorded, removed at kubelet stop when empty). */
  ensureMountPoint(path: string, isFile: boolean): void;
  /** The host directory of a bound PVC (null while it is not bound). */
  claimDirectory(namespace: string, claim: string): Promise<string | null>;
  log(message: string): void;
  /** The runner finished (the Pod object is deleted or gone). */
  gone(uid: string): void;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

interface ContainerRun {
  spec: V1Container;
  init: boolean;
  proc: ChildProcess | null;
  exited: Promise<void> | null;
  pidFile: string;
  env: Record<string, string>;
  restartCount: number;
  startedAt: Date | null;
  state: V1ContainerStatus['state'];
  lastState: V1ContainerStatus['lastState'];
  started: boolean;
  ready: boolean;
  /** Set while a liveness/startup failure kills the process: the exit is a restart. */
  killing: boolean;
  startup: ProbeState | null;
  liveness: ProbeState | null;
  readiness: ProbeState | null;
}

const ALWAYS = 'Always';
const MAX_BACKOFF_MS = 30_000;
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export class PodRunner {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  ip: string | null = null;
  private readonly dir: string;
  private readonly containers: ContainerRun[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private mounts: Mount[] = [];
  private terminating: Promise<void> | null = null;
  private startTime = now();
  private phase: V1PodStatus['phase'] = 'Pending';
  private initialized = false;
  private message: string | undefined;
  private lastPatched = '';
  private patching: Promise<void> | null = null;
  private patchAgain = false;
  private readonly transitions = new Map<string, { status: string; time: string }>();

  constructor(
    private pod: V1Pod,
    private readonly host: PodHost,
    rootDir: string,
  ) {
    this.uid = pod.metadata!.uid!;
    this.name = pod.metadata!.name!;
    this.namespace = pod.metadata!.namespace ?? 'default';
    this.dir = join(rootDir, 'pods', `${this.namespace}_${this.name}_${this.uid.slice(0, 8)}`);
  }

  get hostsPath(): string {
    return join(this.dir, 'hosts');
  }

  hostEntry(): HostEntry | null {
    if (this.ip === null) return null;
    const spec = this.pod.spec;
    return { ip: this.ip, names: podHostNames({ name: this.name, namespace: this.namespace, hostname: spec?.hostname, subdomain: spec?.subdomain }, this.host.clusterDomain) };
  }

  writeHosts(): void {
    const own = this.hostEntry();
    if (own === null || this.terminating) return;
    // Written in place (same inode): the bind mount over /etc/hosts sees the new content.
    writeFileSync(this.hostsPath, hostsFile(own, this.host.hostEntries()));
  }

  logs(container?: string): string {
    const name = container ?? this.pod.spec?.containers[0]?.name ?? '';
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs the pod until terminate(); failures to set it up are retried. */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.ip = this.host.allocateIP();
    writeFileSync(this.hostsPath, '');
    this.host.addressesChanged();
    for (let attempt = 0; !this.terminating; attempt++) {
      try {
        this.mounts = await this.prepareVolumes();
        break;
      } catch (err) {
        this.message = (err as Error).message;
        this.schedulePatch();
        await this.sleep(Math.min(500 * 2 ** attempt, 5000));
      }
    }
    if (this.terminating) return;
    this.message = undefined;
    const spec = this.pod.spec!;
    for (const c of spec.initContainers ?? []) this.containers.push(this.newRun(c, true));
    for (const c of spec.containers) this.containers.push(this.newRun(c, false));
    this.schedulePatch();
    for (const run of this.containers.filter((r) => r.init)) {
      for (;;) {
        if (this.terminating) return;
        const code = await this.runToCompletion(run);
        if (code === 0) break;
        if (spec.restartPolicy === 'Never') {
          this.phase = 'Failed';
          this.schedulePatch();
          return;
        }
        run.restartCount++;
        await this.sleep(Math.min(1000 * 2 ** run.restartCount, MAX_BACKOFF_MS));
      }
    }
    this.initialized = true;
    for (const run of this.containers.filter((r) => !r.init)) this.startContainer(run);
    this.phase = 'Running';
    this.schedulePatch();
  }

  private newRun(spec: V1Container, init: boolean): ContainerRun {
    return {
      spec,
      init,
      proc: null,
      exited: null,
      pidFile: join(this.dir, `${spec.name}.pid`),
      env: {},
      restartCount: 0,
      startedAt: null,
      state: { waiting: { reason: 'ContainerCreating' } },
      lastState: {},
      started: false,
      ready: false,
      killing: false,
      startup: spec.startupProbe ? new ProbeState(spec.startupProbe) : null,
      liveness: spec.livenessProbe ? new ProbeState(spec.livenessProbe) : null,
      readiness: spec.readinessProbe ? new ProbeState(spec.readinessProbe) : null,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Volumes

  private async prepareVolumes(): Promise<Mount[]> {
    const volumes = new Map<string, string>();
    for (const v of this.pod.spec?.volumes ?? []) volumes.set(v.name, await this.volumeSource(v));
    const mounts: Mount[] = [{ source: this.hostsPath, target: '/etc/hosts', readOnly: false }];
    const seen = new Set<string>();
    for (const c of [...(this.pod.spec?.initContainers ?? []), ...(this.pod.spec?.containers ?? [])]) {
      for (const m of c.volumeMounts ?? []) {
        if (seen.has(m.mountPath)) continue;
        seen.add(m.mountPath);
        const base = volumes.get(m.name);
        if (base === undefined) throw new Error(`volume ${m.name} of container ${c.name} is not defined`);
        const source = m.subPath ? join(base, m.subPath) : base;
        if (m.subPath && !existsSync(source)) mkdirSync(source, { recursive: true });
        this.host.ensureMountPoint(m.mountPath, statSync(source).isFile());
        mounts.push({ source, target: m.mountPath, readOnly: m.readOnly === true });
      }
    }
    return mounts;
  }

  private async volumeSource(v: V1Volume): Promise<string> {
    const local = join(this.dir, 'volumes', v.name);
    if (v.persistentVolumeClaim) {
      const dir = await this.host.claimDirectory(this.namespace, v.persistentVolumeClaim.claimName);
      if (dir === null) throw new Error(`PVC ${v.persistentVolumeClaim.claimName} is not bound yet`);
      return dir;
    }
    if (v.emptyDir) {
      mkdirSync(local, { recursive: true });
      return local;
    }
    if (v.hostPath) return v.hostPath.path;
    if (v.secret) {
      const data = await this.secretData(v.secret.secretName ?? '', v.secret.optional === true);
      this.writeFiles(local, data, v.secret.items, v.secret.defaultMode);
      return local;
    }
    if (v.configMap) {
      const data = await this.configMapData(v.configMap.name ?? '', v.configMap.optional === true);
      this.writeFiles(local, data, v.configMap.items, v.configMap.defaultMode);
      return local;
    }
    if (v.projected) {
      mkdirSync(local, { recursive: true });
      for (const s of v.projected.sources ?? []) {
        if (s.secret) this.writeFiles(local, await this.secretData(s.secret.name ?? '', s.secret.optional === true), s.secret.items, v.projected.defaultMode);
        if (s.configMap) this.writeFiles(local, await this.configMapData(s.configMap.name ?? '', s.configMap.optional === true), s.configMap.items, v.projected.defaultMode);
        if (s.serviceAccountToken) {
          const sa = this.pod.spec?.serviceAccountName ?? 'default';
          const tr = await this.host.rest.create<{ status: { token: string } }>(`/api/v1/namespaces/${this.namespace}/serviceaccounts/${sa}/token`, {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              expirationSeconds: s.serviceAccountToken.expirationSeconds ?? 3600,
              ...(s.serviceAccountToken.audience ? { audiences: [s.serviceAccountToken.audience] } : {}),
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: this.name, uid: this.uid },
            },
          });
          this.writeFiles(local, { [s.serviceAccountToken.path]: Buffer.from(tr.status.token) }, undefined, v.projected.defaultMode);
        }
        if (s.downwardAPI) {
          const data: Record<string, Buffer> = {};
          for (const item of s.downwardAPI.items ?? []) {
            if (item.fieldRef) data[item.path] = Buffer.from(this.fieldForFile(item.fieldRef.fieldPath));
          }
          this.writeFiles(local, data, undefined, v.projected.defaultMode);
        }
      }
      return local;
    }
    if (v.downwardAPI) {
      const data: Record<string, Buffer> = {};
      for (const item of v.downwardAPI.items ?? []) if (item.fieldRef) data[item.path] = Buffer.from(this.fieldForFile(item.fieldRef.fieldPath));
      this.writeFiles(local, data, undefined, v.downwardAPI.defaultMode);
      return local;
    }
    throw new Error(`volume ${v.name}: unsupported source (process kubelet knows persistentVolumeClaim, emptyDir, hostPath, secret, configMap, projected, downwardAPI)`);
  }

  private fieldForFile(path: string): string {
    const m = this.pod.metadata ?? {};
    if (path === 'metadata.namespace') return this.namespace;
    if (path === 'metadata.name') return this.name;
    if (path === 'metadata.uid') return this.uid;
    if (path === 'metadata.labels') return Object.entries(m.labels ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    if (path === 'metadata.annotations') return Object.entries(m.annotations ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    throw new Error(`downwardAPI volume field ${path} is not supported`);
  }

  private writeFiles(dir: string, data: Record<string, Buffer>, items: { key: string; path: string; mode?: number }[] | undefined, defaultMode = 0o644): void {
    mkdirSync(dir, { recursive: true });
    const entries = items ? items.map((i) => [i.path, data[i.key], i.mode] as const) : Object.entries(data).map(([k, v]) => [k, v, undefined] as const);
    for (const [path, value, mode] of entries) {
      if (value === undefined) throw new Error(`key for ${path} not found`);
      const file = join(dir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, value, { mode: mode ?? defaultMode });
    }
  }

  private async secretData(name: string, optional: boolean): Promise<Record<string, Buffer>> {
    try {
      const s = await this.host.rest.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${this.namespace}/secrets/${name}`);
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    } catch (err) {
      if (optional && isNotFound(err)) return {};
      throw err;
    }
  }

  private async configMapData(name: string, optional: boolean): Promise<Record<string, Buffer>> {
    try {
      const c = await this.host.rest.get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(`/api/v1/namespaces/${this.namespace}/configmaps/${name}`);
      const out: Record<string, Buffer> = Object.fromEntries(Object.entries(c.data ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
      for (const [k, v] of Object.entries(c.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
      return out;
    } catch (err) {
      if (optional && isNotFound(err)) return {};
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Containers

  private async envSources(): Promise<EnvSources> {
    const secrets = new Map<string, Record<string, string> | null>();
    const configMaps = new Map<string, Record<string, string> | null>();
    const refs = [...(this.pod.spec?.initContainers ?? []), ...(this.pod.spec?.containers ?? [])].flatMap((c) => [
      ...(c.env ?? []).map((e) => e.valueFrom).filter((f) => f !== undefined),
      ...(c.envFrom ?? []).map((f) => ({ secretKeyRef: f.secretRef, configMapKeyRef: f.configMapRef })),
    ]);
    for (const r of refs) {
      const s = r.secretKeyRef?.name;
      if (s !== undefined && !secrets.has(s)) secrets.set(s, await this.fetchOrNull(`secrets/${s}`).then((o) => (o ? decodeSecretData(o.data) : null)));
      const c = r.configMapKeyRef?.name;
      if (c !== undefined && !configMaps.has(c)) configMaps.set(c, await this.fetchOrNull(`configmaps/${c}`).then((o) => (o ? (o.data ?? {}) : null)));
    }
    return {
      pod: this.pod,
      podIP: this.ip!,
      hostIP: this.host.hostIP,
      secret: (n) => secrets.get(n) ?? null,
      configMap: (n) => configMaps.get(n) ?? null,
    };
  }

  private async fetchOrNull(path: string): Promise<{ data?: Record<string, string> } | null> {
    try {
      return await this.host.rest.get(`/api/v1/namespaces/${this.namespace}/${path}`);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Spawns the container's process group; resolves when it is spawned. */
  private async spawnContainer(run: ContainerRun): Promise<boolean> {
    let argv: string[];
    try {
      const env = containerEnv(run.spec, await this.envSources());
      const hostname = this.pod.spec?.hostname ?? this.name;
      // No service links; in-cluster clients find the real API server (never a ClusterIP).
      const bin = writeImageBin(join(this.dir, 'bin', run.spec.name), run.spec.image ?? '');
      const path = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
      const base: Record<string, string> = { PATH: bin ? `${bin}:${path}` : path, HOME: '/root', HOSTNAME: hostname };
      if (this.host.apiServer) {
        base.KUBERNETES_SERVICE_HOST = this.host.apiServer.host;
        base.KUBERNETES_SERVICE_PORT = this.host.apiServer.port;
      }
      run.env = { ...base, ...env };
      const command = (run.spec.command ?? []).map((a) => expand(a, run.env));
      const args = (run.spec.args ?? []).map((a) => expand(a, run.env));
      argv = containerArgv({ image: run.spec.image, command, args });
    } catch (err) {
      run.state = { waiting: { reason: 'CreateContainerConfigError', message: (err as Error).message } };
      this.schedulePatch();
      return false;
    }
    // Terminated while the environment was being read: start nothing any more.
    if (this.terminating) return false;
    const hostname = this.pod.spec?.hostname ?? this.name;
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const lines = ['set -e', `hostname ${q(hostname)}`];
    for (const m of this.mounts) {
      lines.push(`mount --bind ${q(m.source)} ${q(m.target)}`);
      if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(m.target)}`);
    }
    lines.push(`echo $$ > ${q(run.pidFile)}`, `cd ${q(run.spec.workingDir ?? '/')}`, `exec ${argv.map(q).join(' ')}`);
    const script = join(this.dir, `${run.spec.name}.sh`);
    writeFileSync(script, lines.join('\n') + '\n');
    rmSync(run.pidFile, { force: true });
    const logFd = openSync(join(this.dir, `${run.spec.name}.log`), 'a');
    const proc = spawn('unshare', ['--mount', '--uts', '--fork', '--', '/bin/sh', script], { detached: true, env: run.env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    run.proc = proc;
    run.startedAt = new Date();
    run.started = run.startup === null;
    run.ready = false;
    run.startup?.reset();
    run.liveness?.reset();
    run.readiness?.reset();
    run.state = { running: { startedAt: now() as unknown as Date } };
    run.exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        run.proc = null;
        run.ready = false;
        const exitCode = code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1);
        run.lastState = {
          terminated: {
            exitCode,
            reason: exitCode === 0 ? 'Completed' : run.killing ? 'Killed' : 'Error',
            startedAt: (run.state?.running?.startedAt ?? now()) as Date,
            finishedAt: now() as unknown as Date,
          },
        };
        run.state = { terminated: run.lastState.terminated };
        resolve();
      });
      proc.once('error', (err) => {
        this.host.log(`pod ${this.namespace}/${this.name} container ${run.spec.name}: spawn failed: ${err.message}`);
        if (proc.pid === undefined) {
          run.proc = null;
          run.state = { waiting: { reason: 'RunContainerError', message: err.message } };
          run.lastState = { terminated: { exitCode: 128, reason: 'StartError', finishedAt: now() as unknown as Date } };
          resolve();
        }
      });
    });
    this.schedulePatch();
    return true;
  }

  private async runToCompletion(run: ContainerRun): Promise<number> {
    if (!(await this.spawnContainer(run))) return 1;
    await run.exited;
    return run.lastState?.terminated?.exitCode ?? 1;
  }

  private startContainer(run: ContainerRun): void {
    void (async () => {
      while (!this.terminating) {
        if (!(await this.spawnContainer(run))) {
          await this.sleep(2000);
          continue;
        }
        this.probeLoop(run);
        await run.exited;
        run.killing = false;
        if (this.terminating) return;
        const code = run.lastState?.terminated?.exitCode ?? 1;
        const policy = this.pod.spec?.restartPolicy ?? ALWAYS;
        if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) {
          this.settlePhase();
          return;
        }
        // Back-off as the kubelet does (10 s doubling to 5 min there; 1 s to 30 s here, for tests).
        const ranMs = Date.now() - (run.startedAt?.getTime() ?? 0);
        const delay = ranMs > 60_000 ? 1000 : Math.min(1000 * 2 ** run.restartCount, MAX_BACKOFF_MS);
        run.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${delay} ms restarting failed container` } };
        this.schedulePatch();
        await this.sleep(delay);
        run.restartCount++;
      }
    })();
  }

  private settlePhase(): void {
    const main = this.containers.filter((r) => !r.init);
    if (main.every((r) => r.proc === null && r.state?.terminated)) {
      this.phase = main.every((r) => r.state?.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
    }
    this.schedulePatch();
  }

  private probeLoop(run: ContainerRun): void {
    const proc = run.proc;
    const alive = () => run.proc === proc && proc !== null && !this.terminating;
    const loop = (probe: V1Probe, state: ProbeState, gate: () => boolean, onResult: (v: ProbeResult | null, r: ProbeResult) => void) => {
      const tick = async () => {
        if (!alive()) return;
        if (gate()) {
          const r = await runProbe(probe, run.spec, this.ip!, (cmd, t) => this.execProbe(run, cmd, t));
          if (!alive()) return;
          onResult(state.record(r), r);
        }
        this.after((probe.periodSeconds ?? 10) * 1000, tick);
      };
      this.after((probe.initialDelaySeconds ?? 0) * 1000, tick);
    };
    if (run.startup) {
      loop(run.spec.startupProbe!, run.startup, () => !run.started, (v) => {
        if (v === 'success') {
          run.started = true;
          if (!run.readiness) run.ready = true;
          this.schedulePatch();
        } else if (v === 'failure') this.killForRestart(run, 'startup probe failed');
      });
    } else if (!run.readiness) {
      run.ready = true;
      this.schedulePatch();
    }
    if (run.liveness) {
      loop(run.spec.livenessProbe!, run.liveness, () => run.started, (v) => {
        if (v === 'failure') this.killForRestart(run, 'liveness probe failed');
      });
    }
    if (run.readiness) {
      loop(run.spec.readinessProbe!, run.readiness, () => run.started, (v) => {
        const ready = v === 'success';
        if (ready !== run.ready) {
          run.ready = ready;
          this.schedulePatch();
        }
      });
    }
  }

  private killForRestart(run: ContainerRun, why: string): void {
    if (run.killing || run.proc === null) return;
    run.killing = true;
    this.host.log(`pod ${this.namespace}/${this.name} container ${run.spec.name}: ${why}, restarting`);
    void this.stopProcess(run, this.pod.spec?.terminationGracePeriodSeconds ?? 30);
  }

  private async execProbe(run: ContainerRun, command: string[], timeoutMs: number): Promise<boolean> {
    // The script writes its pid just before exec: a probe right after a (re)start waits for it.
    let pid = '';
    for (const deadline = Date.now() + timeoutMs; pid === '' && Date.now() < deadline; ) {
      try {
        pid = readFileSync(run.pidFile, 'utf8').trim();
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (pid === '') return false;
    const argv = containerArgv({ image: run.spec.image, command, args: [] });
    return new Promise<boolean>((resolve) => {
      const p = spawn('nsenter', ['-t', pid, '-m', '-u', '--', ...argv], { env: run.env, stdio: 'ignore', detached: true });
      const timer = setTimeout(() => {
        try {
          process.kill(-p.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, timeoutMs);
      p.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
      p.once('error', () => resolve(false));
    });
  }

  /** SIGTERM to the group, SIGKILL after `graceSeconds`; resolves once it exited. */
  private async stopProcess(run: ContainerRun, graceSeconds: number): Promise<void> {
    const proc = run.proc;
    if (proc === null || proc.pid === undefined) return;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid!, s);
      } catch {
        // the group is gone
      }
    };
    signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signal('SIGKILL');
        resolve();
      }, graceSeconds * 1000);
    });
    await Promise.race([run.exited, killed]);
    clearTimeout(timer);
    await run.exited;
    // Anything the process left in its group goes too.
    signal('SIGKILL');
  }

  // ---------------------------------------------------------------------------------------------
  // Termination

  /** Graceful termination (the Pod has a deletionTimestamp), then the Pod object is deleted. */
  terminate(graceSeconds: number, deleteObject = true): Promise<void> {
    this.terminating ??= (async () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      await Promise.all(this.containers.map((r) => this.stopProcess(r, graceSeconds)));
      if (deleteObject) {
        try {
          await this.host.rest.delete(`/api/v1/namespaces/${this.namespace}/pods/${this.name}`, {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            gracePeriodSeconds: 0,
            preconditions: { uid: this.uid },
          });
        } catch (err) {
          if (!isNotFound(err) && !isConflict(err)) this.host.log(`pod ${this.namespace}/${this.name}: final delete failed: ${(err as Error).message}`);
        }
      }
      if (this.ip !== null) this.host.releaseIP(this.ip);
      this.ip = null;
      this.host.addressesChanged();
      rmSync(this.dir, { recursive: true, force: true });
      this.host.gone(this.uid);
    })();
    return this.terminating;
  }

  get isTerminating(): boolean {
    return this.terminating !== null;
  }

  // ---------------------------------------------------------------------------------------------
  // Status

  update(pod: V1Pod): void {
    this.pod = pod;
  }

  status(): V1PodStatus {
    const main = this.containers.filter((r) => !r.init);
    const allReady = main.length > 0 && main.every((r) => r.ready && r.proc !== null);
    const cond = (type: string, ok: boolean, reason?: string): V1PodCondition => {
      const status = ok ? 'True' : 'False';
      // lastTransitionTime changes only when the condition's status does.
      let last = this.transitions.get(type);
      if (last?.status !== status) {
        last = { status, time: now() };
        this.transitions.set(type, last);
      }
      return { type, status, lastTransitionTime: last.time as unknown as Date, ...(ok || reason === undefined ? {} : { reason }) };
    };
    const status: V1PodStatus = {
      phase: this.phase,
      hostIP: this.host.hostIP,
      hostIPs: [{ ip: this.host.hostIP }],
      startTime: this.startTime as unknown as Date,
      conditions: [
        cond('PodReadyToStartContainers', this.ip !== null),
        cond('Initialized', this.initialized, 'ContainersNotInitialized'),
        cond('ContainersReady', allReady, 'ContainersNotReady'),
        cond('Ready', allReady, 'ContainersNotReady'),
      ],
      containerStatuses: main.map((r) => this.containerStatus(r)),
      ...(this.containers.some((r) => r.init) ? { initContainerStatuses: this.containers.filter((r) => r.init).map((r) => this.containerStatus(r)) } : {}),
    };
    if (this.ip !== null) {
      status.podIP = this.ip;
      status.podIPs = [{ ip: this.ip }];
    }
    if (this.message !== undefined) status.message = this.message;
    return status;
  }

  private containerStatus(r: ContainerRun): V1ContainerStatus {
    return {
      name: r.spec.name,
      image: r.spec.image ?? '',
      imageID: `process-kubelet://${r.spec.image ?? ''}`,
      containerID: r.proc?.pid !== undefined ? `process://${r.proc.pid}` : undefined,
      ready: r.ready && r.proc !== null,
      started: r.started && r.proc !== null,
      restartCount: r.restartCount,
      state: r.state ?? {},
      lastState: r.lastState ?? {},
    } as V1ContainerStatus;
  }

  /** Patches pods/status when what it reports changed (one patch at a time, the latest wins). */
  schedulePatch(): void {
    if (this.terminating) return;
    if (this.patching) {
      this.patchAgain = true;
      return;
    }
    this.patching = (async () => {
      do {
        this.patchAgain = false;
        const status = this.status();
        const key = JSON.stringify(status);
        if (key === this.lastPatched) continue;
        try {
          await this.host.rest.patch(`/api/v1/namespaces/${this.namespace}/pods/${this.name}/status`, { status }, 'strategic');
          this.lastPatched = key;
        } catch (err) {
          if (isNotFound(err)) return;
          this.host.log(`pod ${this.namespace}/${this.name}: status patch failed: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 500));
          this.patchAgain = true;
        }
      } while (this.patchAgain && !this.terminating);
    })().finally(() => {
      this.patching = null;
    });
  }

  /** Re-sends the status if the last patch failed or the API server lost it (called by the sync loop). */
  resync(): void {
    this.schedulePatch();
  }

  private after(ms: number, f: () => void | Promise<void>): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void f();
    }, ms);
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }
}
