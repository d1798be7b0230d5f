// What every end-to-end file does around its scenarios: start a control plane with the process
// kubelet and the ConfluxCluster CRD; print the logs that explain a failure; and stop what it
// started (operator, kubelet, control plane, by PID inside each) and remove its folder, in that
// order so that nothing is left running against a stopped API server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startControlPlane, type ControlPlane } from '../control-plane.js';
import { ProcessKubelet } from '../kubelet/kubelet.js';
import { KubeRest } from '../kubelet/rest.js';
import type { OperatorProcess } from './operator-process.js';

const CRD = resolve(import.meta.dirname, '../../../crds/confluxclusters.yaml');

export interface E2eBase {
  dir: string;
  cp: ControlPlane;
  kubelet: ProcessKubelet;
  rest: KubeRest;
}

/**
 * A folder (`dirPrefix`...), a control plane, the process kubelet (its lines go to `kubeletLog`)
 * and the CRD, established. If a step fails, what was started is stopped before the error goes on.
 */
export async function startE2eBase(dirPrefix: string, kubeletLog: string[]): Promise<E2eBase> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  let cp: ControlPlane | undefined;
  let kubelet: ProcessKubelet | undefined;
  try {
    cp = await startControlPlane();
    kubelet = new ProcessKubelet({ kubeConfig: cp.kubeConfig(), nodeName: 'e2e-node', log: (l) => kubeletLog.push(`${new Date().toISOString()} ${l}`) });
    await kubelet.start();
    await cp.kubectlOk(['apply', '-f', CRD]);
    await cp.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/confluxclusters.conflux.io']);
    return { dir, cp, kubelet, rest: await KubeRest.fromKubeConfig(cp.kubeConfig()) };
  } catch (err) {
    await stopAll({ kubelet, cp, dir, kubeletLog });
    throw err;
  }
}

export interface E2eParts {
  operator?: OperatorProcess | undefined;
  kubelet?: ProcessKubelet | undefined;
  cp?: ControlPlane | undefined;
  dir?: string | undefined;
  kubeletLog: string[];
}

const tail = (s: string, n: number) => s.split('\n').slice(-n).join('\n');

/** After a failed test: the tails of the operator's, the kubelet's and every running pod's logs. */
export function printLogsIfFailed(state: string | undefined, parts: E2eParts): void {
  if (state !== 'fail') return;
  console.error(`--- operator log (tail)\n${tail(parts.operator?.logs() ?? '', 60)}`);
  console.error(`--- kubelet log (tail)\n${parts.kubeletLog.slice(-40).join('\n')}`);
  const kubelet = parts.kubelet;
  for (const p of kubelet?.runningPods() ?? []) console.error(`--- pod ${p.name} ${p.ip}\n${tail(kubelet!.logs(p.namespace, p.name), 20)}`);
}

export async function stopAll(parts: E2eParts): Promise<void> {
  await parts.operator?.stop();
  await parts.kubelet?.stop();
  await parts.cp?.stop();
  if (parts.dir) rmSync(parts.dir, { recursive: true, force: true });
}
