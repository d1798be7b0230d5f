// A quorum-aware rolling upgrade end to end (issue #9): a real control plane, the process kubelet
// (it runs any tag of the conflux image as the local build) and the operator as a local process.
// Changing spec.image rolls every pod one at a time (StatefulSet OnDelete, driven by the operator)
// while a client writes continuously through the pods: no acknowledged write is lost, writes go
// on during the rollout, and the leader is restarted last, after leadership moved to an updated pod.
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process-cluster.js';
import type { ControlPlane } from './control-plane.js';
import type { ProcessKubelet } from './kubelet/kubelet.js';
import type { KubeRest } from './kubelet/rest.js';
import { ClusterView, ContinuousWriter, lostWrites, sleep } from './support/cluster-helpers.js';
import { printLogsIfFailed, startE2eBase, stopAll } from './support/e2e-lifecycle.js';
import { OperatorProcess } from './support/operator-process.js';

const REPO = resolve(import.meta.dirname, '../..');
const NS = 'default';
const NAME = 'up';
const MIN = 60_000;
const OLD = 'conflux:0.1.0';
const NEW = 'conflux:0.2.0';

describe('rolling upgrade end to end (real control plane, process kubelet)', () => {
  let cp: ControlPlane;
  let kubelet: ProcessKubelet;
  let operator: OperatorProcess;
  let dir: string;
  let view: ClusterView;
  const kubeletLog: string[] = [];

  const kubectl = (args: string[], input?: string) => cp.kubectlOk(args, input);

  beforeAll(async () => {
    let rest: KubeRest;
    ({ dir, cp, kubelet, rest } = await startE2eBase('upgrade-e2e-', kubeletLog));
    view = new ClusterView(rest, NS, NAME);
    operator = await OperatorProcess.start({ kubeconfigPath: cp.kubeconfigPath, logFile: join(dir, 'operator.log') });
  }, 5 * MIN);

  afterAll(() => stopAll({ operator, kubelet, cp, dir, kubeletLog }), 2 * MIN);

  afterEach((ctx) => printLogsIfFailed(ctx.task.result?.state, { operator, kubelet, kubeletLog }));

  it('an image change rolls all pods under continuous writes, loses no acknowledged write, restarts the leader last', async () => {
    await kubectl(['apply', '-f', '-'], `apiVersion: conflux.io/v1alpha1
kind: ConfluxCluster
metadata:
  name: ${NAME}
  namespace: ${NS}
spec:
  replicas: 3
  image: ${OLD}
  storage:
    size: 1Gi
`);
    await waitFor('3 healthy voters', () => view.converged(3), 5 * MIN, 500);
    const before = await view.members();
    const leader = before.leaderId;
    const incarnations = new Map(before.members.map((m) => [m.id, m.incarnation]));
    const oldUids = new Map((await view.pods()).map((p) => [p.metadata!.name!, p.metadata!.uid!]));
    const token = await view.adminToken();

    const writer = new ContinuousWriter(async () => [...(await view.endpoints()).values()], token, 'e2e/upgrade');
    writer.start();
    let ackedAtStart = 0;
    const ackedWhileRolling: number[] = [];
    try {
      await sleep(2000);
      ackedAtStart = writer.report.acknowledged.size;
      await kubectl(['patch', 'confluxcluster', NAME, '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { image: NEW } })]);
      // Every pod re-created with the new image, then converged again.
      await waitFor('every pod re-created with the new image', async () => {
        const pods = await view.pods();
        ackedWhileRolling.push(writer.report.acknowledged.size);
        return pods.length === 3 && pods.every((p) => p.spec!.containers[0]!.image === NEW && p.metadata!.uid !== oldUids.get(p.metadata!.name!));
      }, 10 * MIN, 1000);
      await waitFor('converged after the rollout', () => view.converged(3), 5 * MIN, 500);
      await sleep(2000);
    } finally {
      await writer.stop();
    }
    const report = writer.report;
    // Writes went on during the rollout, not only before and after it.
    expect(report.acknowledged.size).toBeGreaterThan(ackedAtStart + 20);
    expect(new Set(ackedWhileRolling).size).toBeGreaterThan(3);
    // What a client may see while pods restart: 503 (not applied, retry), 504 (outcome unknown:
    // retried with the same value) and a refused or cut connection to the pod being restarted.
    // Never a 500 or a 4xx.
    expect(Object.fromEntries([...report.failures].filter(([k]) => k !== '503' && k !== '504' && !k.startsWith('network')))).toEqual({});
    for (const url of (await view.endpoints()).values()) expect(await lostWrites(url, token, report.acknowledged)).toEqual([]);

    // One restart per pod; the last one is the leader of that moment (the one at the start, unless
    // an election moved leadership meanwhile), restarted after leadership moved away from it.
    const events = JSON.parse(await kubectl(['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${NAME}`, '-o', 'json'])) as {
      items: { reason: string; message: string; metadata: { name: string } }[];
    };
    // The operator names events <cluster>.<milliseconds in hex><random>: by name is by time.
    const ordered = events.items.filter((e) => e.reason === 'PodRestarted' || e.reason === 'LeaderTransferred').sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const restarted = ordered.filter((e) => e.reason === 'PodRestarted').map((e) => e.message.split(' ')[1]!);
    expect(restarted).toHaveLength(3);
    expect(new Set(restarted).size).toBe(3);
    const last = restarted.at(-1)!;
    const lastRestart = ordered.findIndex((e) => e.reason === 'PodRestarted' && e.message.split(' ')[1] === last);
    const transfers = ordered.slice(0, lastRestart).filter((e) => e.reason === 'LeaderTransferred');
    expect(transfers.at(-1)?.message).toMatch(new RegExp(`^moved leadership from ${last} to `));
    console.log(`rollout: leader at the start ${leader}; restarts ${restarted.join(', ')}; ${report.acknowledged.size} writes acknowledged (${ackedAtStart} before the patch); failures ${JSON.stringify(Object.fromEntries(report.failures))}`);
    // The pods came back with their volumes: the same members, no member replaced.
    const after = await view.members();
    expect(new Map(after.members.map((m) => [m.id, m.incarnation]))).toEqual(incarnations);
  }, 25 * MIN);
});
