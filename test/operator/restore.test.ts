// spec.restore: the copy Job before any pod exists, pod 0 starting from the file through the sh
// wrapper (run here against a fake conflux-node), the restored cluster adopted and the other pods
// added, never an empty bootstrap instead; failures reported.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { restoreScript, restoreWrapperCommand } from '../../operator/src/specs/restore.js';
import { World } from './fake-world.js';
import { converge, passes, ref } from './passes.js';

const condition = (w: World, type: string) => w.cluster().status?.conditions?.find((c) => c.type === type);
const RESTORE = { volumeClaimName: 'old-backups', file: 'old-backup-29000000.cfxsnap' };

function finishJob(w: World, outcome: 'Complete' | 'Failed', message = ''): void {
  const job = w.kube.peek('Job', 'conflux', 'demo-restore')!;
  w.kube.put('Job', { ...job, status: { conditions: [{ type: outcome, status: 'True', message, lastTransitionTime: new Date(w.nowMs) }], ...(outcome === 'Complete' ? { completionTime: new Date(w.nowMs) } : {}) } });
}

/** What `conflux-node --restore` leaves on pod 0's volume: a one-member cluster with a new id. */
function restoredVolume(w: World): void {
  w.conflux.volumes.set('demo-0', { incarnation: 'inc-restored', clusterId: 'restored-1' });
  w.conflux.clusterId = 'restored-1';
  w.conflux.config_ = [{ id: 'demo-0', incarnation: 'inc-restored', peerURL: 'p0', clientURL: 'c0', role: 'voter' }];
  w.conflux.term = 1;
  w.conflux.lastLogIndex = 50;
}

describe('restore', () => {
  it('copies the file with a Job before any pod exists, then pod 0 starts from it and the others join', async () => {
    const w = new World({ replicas: 3, restore: RESTORE });
    w.kube.put('PersistentVolumeClaim', { metadata: { name: 'old-backups', namespace: 'conflux' }, spec: {} });
    await passes(w, 3);
    // Pod 0's PVC, named as the StatefulSet's claim template names it, and the copy Job.
    const claim = w.kube.peek('PersistentVolumeClaim', 'conflux', 'data-demo-0')!;
    expect(claim.metadata!.labels).toEqual({ 'app.kubernetes.io/name': 'conflux', 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'node' });
    expect(claim.spec!.resources!.requests).toEqual({ storage: '1Gi' });
    const job = w.kube.peek('Job', 'conflux', 'demo-restore')!;
    expect(job.metadata!.ownerReferences).toEqual([expect.objectContaining({ uid: w.cluster().metadata.uid })]);
    const pod = job.spec!.template.spec!;
    expect(pod.volumes).toEqual([
      { name: 'backups', persistentVolumeClaim: { claimName: 'old-backups', readOnly: true } },
      { name: 'data', persistentVolumeClaim: { claimName: 'data-demo-0' } },
    ]);
    expect(pod.containers[0]!.command![2]).toContain("src='/backups/old-backup-29000000.cfxsnap'");
    expect(w.statefulSet()).toBeUndefined();
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'True', reason: 'Restoring' });
    expect(w.kube.eventReasons()).toContain('RestoreStarted');

    finishJob(w, 'Complete');
    restoredVolume(w);
    await converge(w);
    // Pod 0 came up with the restored data: adopted, not bootstrapped; the others added.
    expect(w.conflux.changes).toEqual(['add demo-1', 'promote demo-1', 'add demo-2', 'promote demo-2']);
    const status = w.cluster().status!;
    expect(status).toMatchObject({ clusterId: 'restored-1', phase: 'Running', restore: { ...RESTORE, copiedTime: expect.any(String), restoredTime: expect.any(String) } });
    expect(w.kube.eventReasons()).toEqual(expect.arrayContaining(['RestoreCopied', 'Restored']));
    expect(w.kube.eventReasons()).not.toContain('ClusterAdopted');
    // The pods start through the wrapper, with the usual arguments.
    const c = w.statefulSet()!.spec!.template.spec!.containers[0]!;
    expect(c.command).toEqual(restoreWrapperCommand());
    expect(c.args).toContain('--id=$(POD_NAME)');
    // Later passes do not look at the Job again.
    w.kube.remove('Job', 'conflux', 'demo-restore');
    await converge(w);
    expect(w.kube.peek('Job', 'conflux', 'demo-restore')).toBeUndefined();
  });

  it('never bootstraps an empty cluster when pod 0 did not start from the file', async () => {
    const w = new World({ replicas: 3, restore: RESTORE });
    w.kube.put('PersistentVolumeClaim', { metadata: { name: 'old-backups', namespace: 'conflux' }, spec: {} });
    await passes(w, 2);
    finishJob(w, 'Complete');
    await passes(w, 6);
    expect(w.statefulSet()).toBeDefined();
    expect(w.conflux.changes).toEqual([]);
    expect(condition(w, 'Progressing')).toMatchObject({ reason: 'Restoring', message: expect.stringContaining('answers as joining without data') });
  });

  it('reports a missing backup PVC and a failed copy (with the pod output), and creates no pods', async () => {
    const w = new World({ replicas: 1, restore: RESTORE });
    await passes(w, 2);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'RestoreFailed', message: expect.stringContaining('backup PVC old-backups') });
    w.kube.put('PersistentVolumeClaim', { metadata: { name: 'old-backups', namespace: 'conflux' }, spec: {} });
    await passes(w, 2);
    finishJob(w, 'Failed', 'Job has reached the specified backoff limit');
    w.kube.put('Pod', {
      metadata: { name: 'demo-restore-abcde', namespace: 'conflux', labels: { 'job-name': 'demo-restore' } },
      status: { containerStatuses: [{ name: 'restore', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 2, message: 'no file old-backup-29000000.cfxsnap on PVC old-backups' } } }] },
    });
    await passes(w, 3);
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'RestoreFailed', message: expect.stringContaining('no file old-backup-29000000.cfxsnap on PVC old-backups') });
    expect(w.kube.events.filter((e) => e.reason === 'RestoreFailed')).toHaveLength(1);
    expect(w.statefulSet()).toBeUndefined();
  });

  it('refuses to restore into a cluster whose StatefulSet already exists', async () => {
    const w = new World({ replicas: 1 });
    await converge(w);
    const c = w.cluster();
    // (The schema forbids adding spec.restore later; an object from before the rule might have it.)
    w.kube.put('ConfluxCluster', { ...c, spec: { ...c.spec, restore: RESTORE }, status: { ...c.status!, clusterId: undefined } as never });
    await passes(w, 1);
    expect(w.kube.peek('Job', 'conflux', 'demo-restore')).toBeUndefined();
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'RestoreFailed', message: expect.stringContaining('new clusters only') });
    // Its pods' cluster is adopted as it is, not reported as restored.
    await converge(w);
    expect(w.kube.peek('Job', 'conflux', 'demo-restore')).toBeUndefined();
    expect(w.kube.eventReasons()).toContain('ClusterAdopted');
    expect(w.kube.eventReasons()).not.toContain('Restored');
  });

  it('rejects a file name with a directory', async () => {
    const w = new World({ replicas: 1, restore: { volumeClaimName: 'b', file: '../etc/passwd' } });
    await passes(w, 1);
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('spec.restore.file') });
  });
});

describe('the restore scripts (sh, with fake conflux tools)', () => {
  const root = mkdtempSync(join(tmpdir(), 'conflux-restore-script-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const bin = join(root, 'bin');
  const backups = join(root, 'backups');
  const data = join(root, 'data-volume');
  mkdirSync(bin);
  mkdirSync(backups);
  mkdirSync(data);
  writeFileSync(join(bin, 'conflux'), '#!/bin/sh\n[ "$1 $2" = "snapshot status" ] && grep -q SNAP "$3" || { echo "not a snapshot: $3" >&2; exit 1; }\n');
  // Records how it was started.
  writeFileSync(join(bin, 'conflux-node'), `#!/bin/sh\necho "$*" >> ${join(root, 'starts')}\n`);
  chmodSync(join(bin, 'conflux'), 0o755);
  chmodSync(join(bin, 'conflux-node'), 0o755);
  const local = (s: string) => s.replaceAll('/backups', backups).replaceAll('/var/lib/conflux', data);
  const env = { PATH: `${bin}:${process.env.PATH}` };

  it('the copy Job checks the file, copies it, and refuses a volume with a data directory', () => {
    const missing = spawnSync('sh', ['-c', local(restoreScript('nope.cfxsnap', 'old-backups'))], { env, encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no file nope.cfxsnap on PVC old-backups');
    writeFileSync(join(backups, 'bad.cfxsnap'), 'garbage');
    expect(spawnSync('sh', ['-c', local(restoreScript('bad.cfxsnap', 'b'))], { env }).status).not.toBe(0);
    writeFileSync(join(backups, 'good.cfxsnap'), 'SNAP data');
    const ok = spawnSync('sh', ['-c', local(restoreScript('good.cfxsnap', 'b'))], { env, encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(join(data, 'restore.cfxsnap'), 'utf8')).toBe('SNAP data');
  });

  it('the node wrapper restores only when the file is there and the data directory is not', () => {
    const [sh, flag, wrapper, arg0] = restoreWrapperCommand();
    const start = () => spawnSync(sh!, [flag!, local(wrapper!), arg0!, '--id=demo-0', '--data-dir=/x'], { env, encoding: 'utf8' });
    expect(start().status).toBe(0);
    mkdirSync(join(data, 'data'));
    expect(start().status).toBe(0);
    expect(readFileSync(join(root, 'starts'), 'utf8').trim().split('\n')).toEqual([
      `--restore=${join(data, 'restore.cfxsnap')} --id=demo-0 --data-dir=/x`,
      '--id=demo-0 --data-dir=/x',
    ]);
    // The copy Job refuses to copy over that data directory.
    const again = spawnSync('sh', ['-c', local(restoreScript('good.cfxsnap', 'b'))], { env, encoding: 'utf8' });
    expect(again.status).toBe(3);
  });
});
