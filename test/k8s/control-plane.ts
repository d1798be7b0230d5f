// A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager and kube-scheduler as
// processes on 127.0.0.1 (built by test/k8s/tools/build.sh, see test/k8s/README.md). There are no nodes: the
// process kubelet (test/k8s/kubelet/) registers one. Every process is started here and stopped here by PID;
// everything it writes (certificates, etcd data, kubeconfig, one log per process) lives under one folder.
//
// Networking rule: the API server is reached at https://127.0.0.1:PORT only. Services get ClusterIPs from the
// default range, but nothing routes them here and nothing may dial one (see the README).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { freePorts } from '../support/ports.js';
import { makeCerts } from './certs.js';
import { k8sTools, type K8sTools } from './tools.js';

export interface ControlPlaneOptions {
  /** Folder for certificates, etcd data, kubeconfig and logs; a new temp folder when absent. */
  dir?: string;
  /** Keep the folder after stop() (for debugging). Default: the KEEP_TEST_DIRS environment variable is set. */
  keepDir?: boolean;
  /** Progress lines (which process started, how long readiness took). */
  log?: (line: string) => void;
  /** Extra flags per component, appended to the defaults (later flags win). */
  extraArgs?: Partial<Record<ComponentName, string[]>>;
  /** How long to wait for the whole control plane to be usable (default 180 s: a loaded 2-core machine is slow). */
  startTimeoutMs?: number;
}

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  server: string;
  /** A kubeconfig for the admin token and the CA (also what kubectl() and helm() use). */
  kubeconfigPath: string;
  /** Static bearer token of user "conflux-admin" in group system:masters (fine for a test kubelet too). */
  token: string;
  /** PEM file of the CA that signed the API server's certificate (also the cluster's root CA). */
  caFile: string;
  caPem: string;
  /** The service-account issuer (tokens' "iss"); the API server verifies them with saPublicKeyFile. */
  serviceAccountIssuer: string;
  dir: string;
  /** Folder with kube-apiserver, kube-controller-manager, kube-scheduler and kubectl. */
  binDir: string;
  tools: K8sTools;
  etcdURL: string;
  /** Log file of each component (stdout and stderr). */
  logs: Record<ComponentName, string>;
  pids(): Record<ComponentName, number | undefined>;
  /** Runs the kubectl built with the control plane (same version) against it. */
  kubectl(args: string[], input?: string): Promise<ExecResult>;
  /** kubectl() that throws (with the command and its output) unless it exits 0; gives stdout. */
  kubectlOk(args: string[], input?: string): Promise<string>;
  /** Runs helm with KUBECONFIG set and helm's cache/config/data under dir. */
  helm(args: string[], input?: string): Promise<ExecResult>;
  /** A client-node KubeConfig: https with the CA, the admin token. */
  kubeConfig(): KubeConfig;
  /** GET a path of the API server with the admin token; resolves with the status and the body. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** Stops every process (SIGTERM, then SIGKILL after a grace period) and removes dir unless kept. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

/** Thrown when a component does not start; the message holds the tail of its log. */
export class ControlPlaneError extends Error {
  /** The control plane's folder (removed by then unless kept). */
  dir = '';
  constructor(readonly code: 'start_failed' | 'exited' | 'timeout', message: string) {
    super(message);
    this.name = 'ControlPlaneError';
  }
}

interface Proc {
  name: ComponentName;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  done: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// Processes still running when the test process exits are killed, so a crashed test leaves nothing behind.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

function execTool(bin: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 && !stderr ? err.message : '') });
    });
    child.stdin?.end(input ?? '');
  });
}

function kubeconfigYaml(server: string, caFile: string, token: string): string {
  // JSON is valid YAML, and kubeconfig files may be either.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'conflux-test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'conflux-admin', user: { token } }],
    contexts: [{ name: 'conflux-test', context: { cluster: 'conflux-test', user: 'conflux-admin', namespace: 'default' } }],
    'current-context': 'conflux-test',
  }, null, 2) + '\n';
}

/** A GET over https to 127.0.0.1 with a CA (or none: the controllers' self-signed health endpoints). */
export function httpsGet(url: string, opts: { ca?: string; token?: string; timeoutMs?: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, {
      ...(opts.ca ? { ca: opts.ca } : { rejectUnauthorized: false }),
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      timeout: opts.timeoutMs ?? 5_000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return fetch(url, { signal: AbortSignal.timeout(5_000) }).then(async (r) => ({ status: r.status, body: await r.text() }));
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const tools = k8sTools(['kubernetes', 'etcd']);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'conflux-k8s-'));
  mkdirSync(dir, { recursive: true });
  const say = opts.log ?? (() => {});
  const deadline = Date.now() + (opts.startTimeoutMs ?? 180_000);
  const procs = new Map<ComponentName, Proc>();
  installExitHook();

  const logs: Record<ComponentName, string> = {
    etcd: join(dir, 'etcd.log'),
    'kube-apiserver': join(dir, 'kube-apiserver.log'),
    'kube-controller-manager': join(dir, 'kube-controller-manager.log'),
    'kube-scheduler': join(dir, 'kube-scheduler.log'),
  };

  const start = (name: ComponentName, bin: string, args: string[]): Proc => {
    const fd = openSync(logs[name], 'a');
    const all = [...args, ...(opts.extraArgs?.[name] ?? [])];
    writeFileSync(fd, `# ${bin} ${all.join(' ')}\n`);
    // The components read no environment we rely on; proxies must never apply to loopback.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
    const child = spawn(bin, all, { stdio: ['ignore', fd, fd], env, cwd: dir });
    closeSync(fd);
    live.add(child);
    const p: Proc = { name, child, logFile: logs[name], done: false, exited: Promise.resolve() };
    p.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        p.done = true;
        live.delete(child);
        resolve();
      });
      child.once('error', () => {
        p.done = true;
        live.delete(child);
        resolve();
      });
    });
    procs.set(name, p);
    say(`started ${name} (pid ${child.pid})`);
    return p;
  };

  const stopAll = async (): Promise<void> => {
    // The API server's clients first, then the API server, then its storage.
    const order: ComponentName[][] = [['kube-scheduler', 'kube-controller-manager'], ['kube-apiserver'], ['etcd']];
    for (const group of order) {
      await Promise.all(group.map(async (name) => {
        const p = procs.get(name);
        if (!p || p.done) return;
        p.child.kill('SIGTERM');
        const killed = await Promise.race([p.exited.then(() => true), sleep(10_000).then(() => false)]);
        if (!killed) {
          p.child.kill('SIGKILL');
          await p.exited;
        }
      }));
    }
  };

  /** Polls `check` until it returns true; fails early, with the log's tail, if a process exits. */
  const waitFor = async (what: string, watch: Proc[], check: () => Promise<boolean>): Promise<void> => {
    const t0 = Date.now();
    let lastErr = '';
    for (;;) {
      for (const p of watch) {
        if (p.done) {
          throw new ControlPlaneError('exited', `${p.name} exited (code ${p.child.exitCode}, signal ${p.child.signalCode}) ` +
            `while waiting for ${what}; ${p.logFile}:\n${logTail(p.logFile)}`);
        }
      }
      try {
        if (await check()) {
          say(`${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          return;
        }
      } catch (e) {
        lastErr = (e as Error).message;
      }
      if (Date.now() > deadline) {
        throw new ControlPlaneError('timeout', `timed out waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}; ` +
          watch.map((p) => `${p.logFile}:\n${logTail(p.logFile)}`).join('\n'));
      }
      await sleep(250);
    }
  };

  try {
    const certs = await makeCerts(dir);
    const caPem = readFileSync(certs.caCert, 'utf8');
    const token = randomBytes(24).toString('hex');
    const [etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedPort] = (await freePorts(5)) as [number, number, number, number, number];
    const server = `https://127.0.0.1:${apiPort}`;
    const etcdURL = `http://127.0.0.1:${etcdClientPort}`;
    const serviceAccountIssuer = server;

    // etcd: one member on loopback; no fsync (its data is thrown away with the test).
    const etcd = start('etcd', tools.etcd, [
      '--name=cp',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdURL}`,
      `--advertise-client-urls=${etcdURL}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=cp=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitFor('etcd healthy', [etcd], async () => {
      const r = await httpGet(`${etcdURL}/health`);
      return r.status === 200 && JSON.parse(r.body).health === 'true';
    });

    // "token,user,uid,groups"
    const tokensFile = join(dir, 'tokens.csv');
    writeFileSync(tokensFile, `${token},conflux-admin,conflux-admin,"system:masters"\n`, { mode: 0o600 });
    const apiserver = start('kube-apiserver', join(tools.kubernetesDir, 'kube-apiserver'), [
      `--etcd-servers=${etcdURL}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      // Endpoints reject loopback addresses, so the "kubernetes" Service gets no endpoints: nothing dials it.
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${certs.serverCert}`,
      `--tls-private-key-file=${certs.serverKey}`,
      `--client-ca-file=${certs.caCert}`,
      `--token-auth-file=${tokensFile}`,
      `--requestheader-client-ca-file=${certs.caCert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${certs.proxyClientCert}`,
      `--proxy-client-key-file=${certs.proxyClientKey}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${serviceAccountIssuer}`,
      `--service-account-key-file=${certs.saPub}`,
      `--service-account-signing-key-file=${certs.saKey}`,
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ]);
    await waitFor('kube-apiserver /readyz', [etcd, apiserver], async () => {
      const r = await httpsGet(`${server}/readyz`, { ca: caPem, token });
      return r.status === 200;
    });

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, certs.caCert, token), { mode: 0o600 });
    const delegated = [`--kubeconfig=${kubeconfigPath}`, `--authentication-kubeconfig=${kubeconfigPath}`, `--authorization-kubeconfig=${kubeconfigPath}`];
    const kcm = start('kube-controller-manager', join(tools.kubernetesDir, 'kube-controller-manager'), [
      ...delegated,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      // Every controller, garbage collector and statefulset included; bootstrap-token ones add nothing here.
      '--controllers=*',
      `--root-ca-file=${certs.caCert}`,
      `--service-account-private-key-file=${certs.saKey}`,
      `--cluster-signing-cert-file=${certs.caCert}`,
      `--cluster-signing-key-file=${certs.caKey}`,
      '--profiling=false',
      '--v=1',
    ]);
    const scheduler = start('kube-scheduler', join(tools.kubernetesDir, 'kube-scheduler'), [
      ...delegated,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--profiling=false',
      '--v=1',
    ]);
    const all = [etcd, apiserver, kcm, scheduler];
    await waitFor('kube-controller-manager and kube-scheduler /healthz', all, async () => {
      const [a, b] = await Promise.all([httpsGet(`https://127.0.0.1:${kcmPort}/healthz`, {}), httpsGet(`https://127.0.0.1:${schedPort}/healthz`, {})]);
      return a.status === 200 && b.status === 200;
    });
    // Pods need the namespace's default ServiceAccount (admission rejects them without it) and the
    // kube-root-ca.crt ConfigMap (their projected token volume); the controller-manager creates both.
    await waitFor('default ServiceAccount and kube-root-ca.crt', all, async () => {
      const [sa, cm] = await Promise.all([
        httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, { ca: caPem, token }),
        httpsGet(`${server}/api/v1/namespaces/default/configmaps/kube-root-ca.crt`, { ca: caPem, token }),
      ]);
      return sa.status === 200 && cm.status === 200;
    });

    const toolEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      KUBECONFIG: kubeconfigPath,
      NO_PROXY: '127.0.0.1,localhost',
      HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
      HELM_DATA_HOME: join(dir, 'helm', 'data'),
    };
    let stopped = false;
    return {
      server,
      kubeconfigPath,
      token,
      caFile: certs.caCert,
      caPem,
      serviceAccountIssuer,
      dir,
      binDir: tools.kubernetesDir,
      tools,
      etcdURL,
      logs,
      pids: () => Object.fromEntries([...procs].map(([n, p]) => [n, p.done ? undefined : p.child.pid])) as Record<ComponentName, number | undefined>,
      kubectl: (args, input) => execTool(tools.kubectl, [`--kubeconfig=${kubeconfigPath}`, ...args], toolEnv, input),
      kubectlOk: async (args, input) => {
        const r = await execTool(tools.kubectl, [`--kubeconfig=${kubeconfigPath}`, ...args], toolEnv, input);
        if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr || r.stdout}`);
        return r.stdout;
      },
      helm: (args, input) => execTool(k8sTools(['helm']).helm, args, toolEnv, input),
      kubeConfig: () => {
        const kc = new KubeConfig();
        kc.loadFromOptions({
          clusters: [{ name: 'conflux-test', server, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
          users: [{ name: 'conflux-admin', token }],
          contexts: [{ name: 'conflux-test', cluster: 'conflux-test', user: 'conflux-admin', namespace: 'default' }],
          currentContext: 'conflux-test',
        });
        return kc;
      },
      get: (path) => httpsGet(`${server}${path}`, { ca: caPem, token, timeoutMs: 30_000 }),
      stop: async (o) => {
        if (stopped) return;
        stopped = true;
        await stopAll();
        const keep = o?.keepDir ?? opts.keepDir ?? !!process.env.KEEP_TEST_DIRS;
        if (keep) say(`control plane folder kept: ${dir}`);
        else if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopAll();
    // A failed start keeps its folder when asked to (the logs are in it); the error already holds their tails.
    if (!opts.dir && !(opts.keepDir ?? process.env.KEEP_TEST_DIRS)) rmSync(dir, { recursive: true, force: true });
    const err = e instanceof ControlPlaneError ? e : new ControlPlaneError('start_failed', `control plane did not start: ${(e as Error).message}`);
    err.dir = dir;
    throw err;
  }
}
