// Where test/k8s/tools/build.sh put the Go-built Kubernetes tools. The versions are read from the same places the
// build script reads them (the wrapper go.mod files and HELM_VERSION in build.sh), so the two cannot disagree.
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const toolsSrc = resolve(import.meta.dirname, 'tools');

export interface K8sTools {
  /** ${CONFLUX_TOOLS_DIR:-~/.cache/conflux-tools} */
  cacheDir: string;
  kubernetesVersion: string;
  etcdVersion: string;
  helmVersion: string;
  /** Holds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl. */
  kubernetesDir: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  etcd: string;
  helm: string;
}

/** Thrown when a tool binary is not built yet; the message says how to build it. */
export class ToolsMissingError extends Error {
  readonly code = 'tools_missing';
  constructor(readonly missing: string[]) {
    super(`Kubernetes test tools missing: ${missing.join(', ')}. Build them with "make test-deps" ` +
      `(or test/k8s/tools/build.sh; the first build takes 20-30 min, see test/k8s/README.md)`);
    this.name = 'ToolsMissingError';
  }
}

function required(file: string, pattern: RegExp, what: string): string {
  const m = pattern.exec(readFileSync(file, 'utf8'));
  if (!m?.[1]) throw new Error(`cannot find the ${what} version in ${file}`);
  return m[1];
}

/** The tools' paths (whether or not they are built). */
export function k8sToolPaths(): K8sTools {
  const cacheDir = process.env.CONFLUX_TOOLS_DIR || join(homedir(), '.cache', 'conflux-tools');
  const kubernetesVersion = required(join(toolsSrc, 'kubernetes', 'go.mod'), /^\s*k8s\.io\/kubernetes (v\S+)/m, 'k8s.io/kubernetes');
  const etcdVersion = required(join(toolsSrc, 'etcd', 'go.mod'), /^\s*go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m, 'etcd');
  const helmVersion = required(join(toolsSrc, 'build.sh'), /^HELM_VERSION=(v\S+)/m, 'helm');
  const kubernetesDir = join(cacheDir, `kubernetes-${kubernetesVersion}`);
  return {
    cacheDir,
    kubernetesVersion,
    etcdVersion,
    helmVersion,
    kubernetesDir,
    kubeApiserver: join(kubernetesDir, 'kube-apiserver'),
    kubeControllerManager: join(kubernetesDir, 'kube-controller-manager'),
    kubeScheduler: join(kubernetesDir, 'kube-scheduler'),
    kubectl: join(kubernetesDir, 'kubectl'),
    etcd: join(cacheDir, `etcd-${etcdVersion}`, 'etcd'),
    helm: join(cacheDir, `helm-${helmVersion}`, 'helm'),
  };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The tools' paths; throws ToolsMissingError when one of `need` is not built. */
export function k8sTools(need: Array<'kubernetes' | 'etcd' | 'helm'> = ['kubernetes', 'etcd', 'helm']): K8sTools {
  const t = k8sToolPaths();
  const bins: Record<string, string[]> = {
    kubernetes: [t.kubeApiserver, t.kubeControllerManager, t.kubeScheduler, t.kubectl],
    etcd: [t.etcd],
    helm: [t.helm],
  };
  const missing = need.flatMap((n) => bins[n]!.filter((b) => !executable(b)));
  if (missing.length > 0) throw new ToolsMissingError(missing);
  return t;
}
