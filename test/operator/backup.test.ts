// spec.backup: the backup PVC and CronJob the operator owns, the status and events it reads back
// from the CronJob's Jobs, and the backup script itself, run with sh against a fake `conflux`.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Job } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { cronProblem } from '../../operator/src/api/cron.js';
import { reconcile } from '../../operator/src/reconcile/reconcile.js';
import { backupCronJobName, backupScript } from '../../operator/src/specs/backup.js';
import { makeCluster } from './fixtures.js';
import { World } from './fake-world.js';
import { converge, passes, ref } from './passes.js';

const condition = (w: World, type: string) => w.cluster().status?.conditions?.find((c) => c.type === type);
const BACKUP = { schedule: '*/5 * * * *' };

/** A Job as the CronJob controller creates it, finished as `outcome` at `at`. */
function putJob(w: World, name: string, outcome: 'ok' | 'failed' | 'running', at: string, podMessage?: string): void {
  const cron = w.kube.peek('CronJob', 'conflux', 'demo-backup')!;
  const conditions =
    outcome === 'ok'
      ? [{ type: 'Complete', status: 'True', lastTransitionTime: new Date(at) }]
      : outcome === 'failed'
        ? [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: new Date(at) }]
        : [];
  const job: V1Job = {
    metadata: {
      name,
      namespace: 'conflux',
      labels: cron.spec!.jobTemplate.metadata!.labels!,
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'demo-backup', uid: cron.metadata!.uid!, controller: true }],
    },
    spec: cron.spec!.jobTemplate.spec!,
    status: { conditions, ...(outcome === 'ok' ? { completionTime: new Date(at), succeeded: 1 } : {}) },
  };
  w.kube.put('Job', job);
  if (podMessage !== undefined) {
    w.kube.put('Pod', {
      metadata: { name: `${name}-x7k2p`, namespace: 'conflux', labels: { 'job-name': name } },
      status: { phase: 'Failed', containerStatuses: [{ name: 'backup', image: 'conflux', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, message: podMessage, finishedAt: new Date(at) } } }] },
    });
  }
}

describe('backup objects', () => {
  it('creates the backup PVC (not owned: it outlives the cluster) and an owned CronJob that saves from the pods by DNS name', async () => {
    const w = new World({ replicas: 3, backup: { ...BACKUP, size: '5Gi', storageClassName: 'fast' } });
    await converge(w);
    const pvc = w.kube.peek('PersistentVolumeClaim', 'conflux', 'demo-backups')!;
    expect(pvc.metadata!.ownerReferences).toBeUndefined();
    expect(pvc.spec).toMatchObject({ resources: { requests: { storage: '5Gi' } }, storageClassName: 'fast' });
    const cron = w.kube.peek('CronJob', 'conflux', 'demo-backup')!;
    expect(cron.metadata!.ownerReferences).toEqual([expect.objectContaining({ uid: w.cluster().metadata.uid, controller: true })]);
    expect(cron.spec).toMatchObject({ schedule: '*/5 * * * *', suspend: false, concurrencyPolicy: 'Forbid' });
    const pod = cron.spec!.jobTemplate.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(c.image).toBe('conflux:0.1.0');
    expect(c.command!.slice(0, 2)).toEqual(['sh', '-c']);
    const script = c.command![2]!;
    expect(script).toContain(
      "conflux --endpoints 'http://demo-0.demo-peer.conflux.svc.cluster.local:7070,http://demo-1.demo-peer.conflux.svc.cluster.local:7070,http://demo-2.demo-peer.conflux.svc.cluster.local:7070' snapshot save \"$file\"",
    );
    expect(script).toContain('tail -n +8'); // retain defaults to 7
    expect(c.env).toEqual([{ name: 'JOB_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.labels['job-name']" } } }]);
    expect(pod.volumes).toEqual([
      { name: 'backups', persistentVolumeClaim: { claimName: 'demo-backups' } },
      { name: 'auth', secret: { secretName: 'demo-auth', items: [{ key: 'admin-token', path: 'admin-token' }] } },
    ]);
    expect(pod.enableServiceLinks).toBe(false);
    expect(w.kube.eventReasons()).toEqual(expect.arrayContaining(['BackupVolumeCreated', 'BackupScheduled']));
    expect(w.cluster().status!.phase).toBe('Running');
  });

  it('uses an existing PVC, and reports a missing one without holding up the cluster', async () => {
    const w = new World({ replicas: 1, backup: { ...BACKUP, volumeClaimName: 'nas' } });
    await converge(w);
    expect(w.kube.peek('PersistentVolumeClaim', 'conflux', 'demo-backups')).toBeUndefined();
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'BackupFailed', message: expect.stringContaining('backup PVC nas') });
    expect(condition(w, 'Available')).toMatchObject({ status: 'True' });
    w.kube.put('PersistentVolumeClaim', { metadata: { name: 'nas', namespace: 'conflux' }, spec: {} });
    await converge(w);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False' });
    expect(w.kube.peek('CronJob', 'conflux', 'demo-backup')!.spec!.jobTemplate.spec!.template.spec!.volumes![0]).toEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'nas' } });
  });

  it('follows spec changes: endpoints with replicas, suspend, retain; removes the CronJob (not the PVC) when spec.backup goes', async () => {
    const w = new World({ replicas: 1, backup: BACKUP });
    await converge(w);
    w.setSpec({ replicas: 2, backup: { ...BACKUP, suspend: true, retain: 2 } });
    await converge(w);
    const cron = w.kube.peek('CronJob', 'conflux', 'demo-backup')!;
    expect(cron.spec!.suspend).toBe(true);
    const script = cron.spec!.jobTemplate.spec!.template.spec!.containers[0]!.command![2]!;
    expect(script).toContain('demo-1.demo-peer');
    expect(script).toContain('tail -n +3');
    const c = w.cluster();
    w.kube.put('ConfluxCluster', { ...c, spec: { ...c.spec, backup: undefined } });
    await converge(w);
    expect(w.kube.peek('CronJob', 'conflux', 'demo-backup')).toBeUndefined();
    expect(w.kube.peek('PersistentVolumeClaim', 'conflux', 'demo-backups')).toBeDefined();
    expect(w.kube.eventReasons()).toContain('BackupUnscheduled');
  });

  it('leaves a foreign CronJob with its name alone and reports it', async () => {
    const w = new World({ replicas: 1, backup: BACKUP });
    w.kube.put('CronJob', { metadata: { name: 'demo-backup', namespace: 'conflux' }, spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: { containers: [] } } } } } });
    await passes(w, 6);
    expect(w.kube.peek('CronJob', 'conflux', 'demo-backup')!.spec!.schedule).toBe('@daily');
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'ObjectConflict' });
    // The cluster itself was created anyway.
    expect(w.conflux.changes).toContain('bootstrap demo-0');
  });

  it('names the CronJob within 52 characters for long cluster names', () => {
    const long = makeCluster({}, 'a'.repeat(47));
    const name = backupCronJobName(long);
    expect(name.length).toBeLessThanOrEqual(52);
    expect(name).toMatch(/^a+-[0-9a-f]{6}-backup$/);
    expect(backupCronJobName(makeCluster({}, 'demo'))).toBe('demo-backup');
  });
});

describe('backup status', () => {
  it('reports the last success, then a newer failure (Degraded BackupFailed, one Warning event), cleared by the next success', async () => {
    const w = new World({ replicas: 3, backup: BACKUP });
    await converge(w);
    putJob(w, 'demo-backup-29000000', 'ok', '2025-01-01T00:05:10Z');
    putJob(w, 'demo-backup-29000005', 'running', '2025-01-01T00:10:00Z');
    await passes(w, 3);
    expect(w.cluster().status!.backup).toEqual({
      lastSuccessfulTime: '2025-01-01T00:05:10.000Z',
      lastJob: 'demo-backup-29000000',
      lastFile: 'demo-backup-29000000.cfxsnap',
    });
    expect(w.kube.events.filter((e) => e.reason === 'BackupSucceeded').map((e) => e.message)).toEqual(['backup demo-backup-29000000.cfxsnap written by Job demo-backup-29000000']);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False' });

    putJob(w, 'demo-backup-29000005', 'failed', '2025-01-01T00:10:30Z', 'error: no endpoint answered: ECONNREFUSED');
    await passes(w, 3);
    expect(w.cluster().status!.backup).toMatchObject({
      lastSuccessfulTime: '2025-01-01T00:05:10.000Z',
      lastFailedTime: '2025-01-01T00:10:30.000Z',
      lastFailedJob: 'demo-backup-29000005',
      lastError: 'error: no endpoint answered: ECONNREFUSED',
    });
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'BackupFailed', message: expect.stringContaining('ECONNREFUSED') });
    expect(condition(w, 'Available')).toMatchObject({ status: 'True' });
    expect(w.kube.events.filter((e) => e.reason === 'BackupJobFailed' && e.type === 'Warning')).toHaveLength(1);
    expect(w.kube.events.filter((e) => e.reason === 'BackupFailed' && e.type === 'Warning')).toHaveLength(1); // the condition's transition

    putJob(w, 'demo-backup-29000010', 'ok', '2025-01-01T00:15:05Z');
    await passes(w, 2);
    expect(w.cluster().status!.backup).toEqual({
      lastSuccessfulTime: '2025-01-01T00:15:05.000Z',
      lastJob: 'demo-backup-29000010',
      lastFile: 'demo-backup-29000010.cfxsnap',
    });
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    // Jobs leave the history (successfulJobsHistoryLimit): status remembers the last success.
    for (const j of ['demo-backup-29000000', 'demo-backup-29000005', 'demo-backup-29000010']) w.kube.remove('Job', 'conflux', j);
    await passes(w, 2);
    expect(w.cluster().status!.backup!.lastFile).toBe('demo-backup-29000010.cfxsnap');
  });

  it('a failed Job without pod output reports the Job condition; a cluster problem outranks it', async () => {
    const w = new World({ replicas: 3, backup: BACKUP });
    await converge(w);
    putJob(w, 'demo-backup-1', 'failed', '2025-01-01T01:00:00Z');
    await passes(w, 2);
    expect(w.cluster().status!.backup!.lastError).toBe('BackoffLimitExceeded: Job has reached the specified backoff limit');
    w.conflux.partitioned = true;
    await passes(w, 2);
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'NoLeader' });
  });

  it('ignores Jobs the CronJob does not own', async () => {
    const w = new World({ replicas: 1, backup: BACKUP });
    await converge(w);
    putJob(w, 'manual-1', 'failed', '2025-01-01T01:00:00Z');
    const j = w.kube.peek('Job', 'conflux', 'manual-1')!;
    w.kube.put('Job', { ...j, metadata: { ...j.metadata, ownerReferences: [] } });
    await passes(w, 2);
    expect(w.cluster().status!.backup).toBeUndefined();
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False' });
  });
});

describe('schedule validation', () => {
  it('accepts 5-field schedules and macros, rejects the rest with a reason', () => {
    for (const ok of ['* * * * *', '*/5 * * * *', '0 3 * * *', '15,45 0-6/2 1 JAN-mar mon-FRI', '0 0 ? * 0', '@daily', '@hourly', '0 0 1 12 6']) {
      expect(cronProblem(ok), ok).toBeNull();
    }
    const bad: [string, RegExp][] = [
      ['* * * *', /expected 5 fields/],
      ['* * * * * *', /got 6/],
      ['60 * * * *', /minute "60" is not within 0-59/],
      ['* 24 * * *', /hour/],
      ['* * 0 * *', /day of month/],
      ['* * * 13 *', /month/],
      ['* * * * 7', /day of week/],
      ['*/0 * * * *', /step "0"/],
      ['5-1 * * * *', /backwards/],
      ['1-2-3 * * * *', /not a range/],
      ['? * * * *', /minute/],
      ['a/b/c * * * *', /not a list of ranges/],
      ['@sometimes', /unknown macro/],
    ];
    for (const [s, why] of bad) expect(cronProblem(s), s).toMatch(why);
  });

  it('an invalid schedule or retain is InvalidSpec and creates nothing', async () => {
    const w = new World({ replicas: 1, backup: { schedule: '61 * * * *', retain: 0 } });
    await reconcile(w.ctx(), ref);
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'InvalidSpec', message: expect.stringMatching(/spec\.backup\.schedule: minute.*spec\.backup\.retain/) });
    expect(w.kube.peek('CronJob', 'conflux', 'demo-backup')).toBeUndefined();
  });
});

describe('the backup script (sh, with a fake conflux CLI)', () => {
  const root = mkdtempSync(join(tmpdir(), 'conflux-backup-script-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const bin = join(root, 'bin');
  const backups = join(root, 'backups');
  const auth = join(root, 'auth');
  mkdirSync(bin);
  mkdirSync(backups);
  mkdirSync(auth);
  writeFileSync(join(auth, 'admin-token'), 'secret-admin\n');
  // The CLI's contract: FILE.part, then a rename; on failure nothing at FILE and exit 1.
  writeFileSync(
    join(bin, 'conflux'),
    '#!/bin/sh\n[ "$1 $3 $4" = "--endpoints snapshot save" ] || { echo "bad usage: $*" >&2; exit 2; }\n' +
      'printf "snap token=%s endpoints=%s" "$CONFLUX_TOKEN" "$2" > "$5.part"\n' +
      '[ -z "${FAIL:-}" ] || { echo "error: no endpoint answered" >&2; exit 3; }\nmv "$5.part" "$5"\n',
  );
  chmodSync(join(bin, 'conflux'), 0o755);
  const script = backupScript('demo-backup', ['http://a:7070', 'http://b:7070'], 3).replaceAll('/backups', backups).replaceAll('/etc/conflux/auth', auth);
  const run = (job: string, fail = false) =>
    spawnSync('sh', ['-c', script], { env: { PATH: `${bin}:${process.env.PATH}`, JOB_NAME: job, ...(fail ? { FAIL: '1' } : {}) }, encoding: 'utf8' });

  it('writes <job>.cfxsnap with the admin token and every endpoint, and keeps the newest `retain` files', () => {
    for (let i = 1; i <= 5; i++) {
      const r = run(`demo-backup-${100 + i}`);
      expect(r.status, r.stderr).toBe(0);
      // Distinct modification times for `ls -t`.
      execFileSync('touch', ['-d', `2025-01-01T00:0${i}:00Z`, join(backups, `demo-backup-${100 + i}.cfxsnap`)]);
    }
    expect(readdirSync(backups).sort()).toEqual(['demo-backup-103.cfxsnap', 'demo-backup-104.cfxsnap', 'demo-backup-105.cfxsnap']);
    expect(readFileSync(join(backups, 'demo-backup-105.cfxsnap'), 'utf8')).toBe('snap token=secret-admin endpoints=http://a:7070,http://b:7070');
  });

  it('a failed save exits non-zero, leaves no backup-looking file, and prunes nothing; the .part of a killed run goes next time', () => {
    const r = run('demo-backup-200', true);
    expect(r.status).toBe(3);
    writeFileSync(join(backups, 'demo-backup-199.cfxsnap.part'), 'half');
    expect(r.stderr).toContain('no endpoint answered');
    expect(readdirSync(backups).filter((f) => f.endsWith('.cfxsnap')).sort()).toEqual(['demo-backup-103.cfxsnap', 'demo-backup-104.cfxsnap', 'demo-backup-105.cfxsnap']);
    expect(run('demo-backup-201').status).toBe(0);
    expect(readdirSync(backups).some((f) => f.endsWith('.part'))).toBe(false);
  });
});
