// Backups end to end (issue #9): a real control plane (its CronJob and Job controllers), the
// process kubelet and the operator as a local process. A cluster with spec.backup on an
// every-minute schedule gets a backup written by the CronJob (the real `conflux snapshot save`
// against the pods by DNS name), status.backup names the file, and a new ConfluxCluster with
// spec.restore pointing at it comes up with the data: pod 0 started from the file, pod 1 joined.
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process-cluster.js';
import type { ControlPlane } from './control-plane.js';
import type { ProcessKubelet } from './kubelet/kubelet.js';
import type { KubeRest } from './kubelet/rest.js';
import { ClusterView, lostWrites } from './support/cluster-helpers.js';
import { printLogsIfFailed, startE2eBase, stopAll } from './support/e2e-lifecycle.js';
import { OperatorProcess } from './support/operator-process.js';

const REPO = resolve(import.meta.dirname, '../..');
const NS = 'default';
const SOURCE = 'bk';
const RESTORED = 'bk-restored';
const MIN = 60_000;

const clusterYaml = (name: string, replicas: number, extra: string) => `apiVersion: conflux.io/v1alpha1
kind: ConfluxCluster
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  replicas: ${replicas}
  image: conflux:0.1.0
  storage:
    size: 1Gi
${extra}`;

describe('backup and restore end to end (real control plane, process kubelet)', () => {
  let cp: ControlPlane;
  let kubelet: ProcessKubelet;
  let operator: OperatorProcess;
  let dir: string;
  let source: ClusterView;
  let restored: ClusterView;
  const kubeletLog: string[] = [];
  const written = new Map<string, string>();

  const kubectl = (args: string[], input?: string) => cp.kubectlOk(args, input);

  beforeAll(async () => {
    let rest: KubeRest;
    ({ dir, cp, kubelet, rest } = await startE2eBase('backup-e2e-', kubeletLog));
    source = new ClusterView(rest, NS, SOURCE);
    restored = new ClusterView(rest, NS, RESTORED);
    operator = await OperatorProcess.start({ kubeconfigPath: cp.kubeconfigPath, logFile: join(dir, 'operator.log') });
  }, 5 * MIN);

  afterAll(() => stopAll({ operator, kubelet, cp, dir, kubeletLog }), 2 * MIN);

  afterEach((ctx) => printLogsIfFailed(ctx.task.result?.state, { operator, kubelet, kubeletLog }));

  it('a scheduled backup runs: the CronJob writes a file and status.backup names it', async () => {
    await kubectl(['apply', '-f', '-'], clusterYaml(SOURCE, 1, '  backup:\n    schedule: "* * * * *"\n    retain: 2\n'));
    await waitFor('source cluster Available', () => source.converged(1), 4 * MIN, 500);
    const token = await source.adminToken();
    const url = [...(await source.endpoints()).values()][0]!;
    for (let i = 0; i < 20; i++) {
      const key = `e2e/backup/k${String(i).padStart(2, '0')}`;
      const value = `v${i}-${'x'.repeat(i * 10)}`;
      const r = await waitFor(`put ${key}`, async () => {
        const res = await fetch(`${url}/v1/kv/${key}`, { method: 'PUT', body: value, headers: { authorization: `Bearer ${token}` } });
        return res.status === 503 ? null : res;
      }, MIN, 200);
      expect([200, 201]).toContain(r.status);
      written.set(key, value);
    }
    const written0 = Date.now();
    // The CronJob runs every minute; a run that started before the writes would miss some keys,
    // so wait for a backup Job that finished after them.
    const status = await waitFor('a backup taken after the writes', async () => {
      const b = (await source.cluster())?.status?.backup;
      return b?.lastSuccessfulTime !== undefined && Date.parse(b.lastSuccessfulTime) > written0 + 1000 ? b : null;
    }, 5 * MIN, 1000);
    expect(status.lastFile).toMatch(new RegExp(`^${SOURCE}-backup-\\d+\\.cfxsnap$`));
    expect(status.lastJob).toBe(status.lastFile!.replace(/\.cfxsnap$/, ''));
    const c = (await source.cluster())!;
    expect(c.status?.conditions?.find((x) => x.type === 'Degraded')).toMatchObject({ status: 'False' });
    // The CronJob and the backup PVC are there; the Job ran the cluster's image.
    const cron = JSON.parse(await kubectl(['get', 'cronjob', `${SOURCE}-backup`, '-n', NS, '-o', 'json'])) as { spec: { schedule: string } };
    expect(cron.spec.schedule).toBe('* * * * *');
    const pvc = JSON.parse(await kubectl(['get', 'pvc', `${SOURCE}-backups`, '-n', NS, '-o', 'json'])) as { status: { phase: string } };
    expect(pvc.status.phase).toBe('Bound');
    const events = await kubectl(['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${SOURCE}`, '-o', 'jsonpath={.items[*].reason}']);
    expect(events.split(' ')).toEqual(expect.arrayContaining(['BackupVolumeCreated', 'BackupScheduled', 'BackupSucceeded']));
    // No more backups while the restore reads the volume (one writer at a time on an RWO volume).
    await kubectl(['patch', 'confluxcluster', SOURCE, '-n', NS, '--type=merge', '-p', '{"spec":{"backup":{"schedule":"* * * * *","retain":2,"suspend":true}}}']);
    await waitFor('CronJob suspended', async () => JSON.parse(await kubectl(['get', 'cronjob', `${SOURCE}-backup`, '-n', NS, '-o', 'json'])).spec.suspend === true, 2 * MIN, 500);
    await waitFor('no backup Job running', async () => {
      const jobs = JSON.parse(await kubectl(['get', 'jobs', '-n', NS, '-l', `app.kubernetes.io/instance=${SOURCE},app.kubernetes.io/component=backup`, '-o', 'json'])) as { items: { status: { active?: number } }[] };
      return jobs.items.every((j) => !j.status.active);
    }, 3 * MIN, 1000);
  }, 12 * MIN);

  it('the backup is restorable: a new cluster from spec.restore has the data, a new cluster id and two voters', async () => {
    const file = (await source.cluster())!.status!.backup!.lastFile!;
    await kubectl(['apply', '-f', '-'], clusterYaml(RESTORED, 2, `  restore:\n    volumeClaimName: ${SOURCE}-backups\n    file: ${file}\n`));
    const c = await waitFor('restored cluster Available with 2 voters', () => restored.converged(2), 6 * MIN, 1000);
    const sourceId = (await source.cluster())!.status!.clusterId;
    expect(c.status?.clusterId).toBeTruthy();
    expect(c.status?.clusterId).not.toBe(sourceId);
    expect(c.status?.restore).toMatchObject({ volumeClaimName: `${SOURCE}-backups`, file, copiedTime: expect.any(String), restoredTime: expect.any(String) });
    const events = await kubectl(['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${RESTORED}`, '-o', 'jsonpath={.items[*].reason}']);
    expect(events.split(' ')).toEqual(expect.arrayContaining(['RestoreStarted', 'RestoreCopied', 'Restored', 'MemberAdded', 'MemberPromoted']));
    expect(events.split(' ')).not.toContain('Bootstrapped');
    // Every key, read linearizably through each pod (pod 1 got the data by joining).
    const token = await restored.adminToken();
    for (const url of (await restored.endpoints()).values()) {
      expect(await lostWrites(url, token, written)).toEqual([]);
    }
  }, 10 * MIN);
});
