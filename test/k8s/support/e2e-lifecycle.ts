// What every end-to-end file does around its scenarios: print the logs that explain a failure,
// and stop what it started (operator, kubelet, control plane, by PID inside each) and remove its
// folder, in that order so that nothing is left running against a stopped API server.
import { rmSync } from 'node:fs';
import type { ControlPlane } from '../control-plane.js';
import type { ProcessKubelet } from '../kubelet/kubelet.js';
import type { OperatorProcess } from './operator-process.js';

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
