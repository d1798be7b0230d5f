// spec.backup: the backup PVC (created when the user names none), the CronJob, and the backup
// status read back from the Jobs the CronJob created. Never stops the pass: a backup problem must
// not hold up the cluster's own reconcile.
import type { V1Job } from '@kubernetes/client-node';
import type { BackupStatus } from '../api/types.js';
import { backupClaimName, backupCronJobName, backupFileOf, buildBackupClaim, buildBackupCronJob } from '../specs/backup.js';
import { isOwnedBy, LABELS, metaName, metaNamespace } from '../specs/names.js';
import { jobFailureMessage, jobOutcome } from './jobs.js';
import { ensureOwned } from './objects.js';
import { errorMessage } from './status.js';
import { recordEvent } from './events.js';
import { CONTINUE, type ReconcileContext, type ReconcileState, type Step } from './types.js';

export const ensureBackup: Step = {
  name: 'ensureBackup',
  async run(ctx, state) {
    const { cluster, spec } = state;
    const ns = metaNamespace(cluster);
    const cronName = backupCronJobName(cluster);
    if (spec.backup === undefined) {
      // Switched off: the schedule goes (its Jobs with it); the volume and its files stay.
      const existing = await ctx.kube.get('CronJob', ns, cronName);
      if (existing !== null && isOwnedBy(existing, cluster)) {
        await ctx.kube.delete('CronJob', ns, cronName, existing.metadata?.uid !== undefined ? { uid: existing.metadata.uid } : undefined);
        await recordEvent(ctx, cluster, 'Normal', 'BackupUnscheduled', `deleted CronJob ${cronName}: spec.backup was removed (the backup volume and its files are kept)`);
      }
      return CONTINUE;
    }
    const claimName = backupClaimName(cluster);
    const claim = await ctx.kube.get('PersistentVolumeClaim', ns, claimName);
    if (claim === null) {
      if (spec.backup.volumeClaimName !== undefined) {
        state.backupFailure = { reason: 'BackupFailed', message: `backup PVC ${claimName} (spec.backup.volumeClaimName) does not exist` };
      } else {
        await ctx.kube.create('PersistentVolumeClaim', buildBackupClaim(cluster));
        await recordEvent(ctx, cluster, 'Normal', 'BackupVolumeCreated', `created PVC ${claimName} for backups (kept when the cluster is deleted)`);
      }
    }
    const r = await ensureOwned(ctx, state, 'CronJob', buildBackupCronJob(cluster, ctx.options));
    // A foreign CronJob with our name is reported (ensureOwned added the issue); the cluster's
    // own reconcile goes on.
    if (r.kind === 'stop') return CONTINUE;
    if (r.changed === 'created') {
      await recordEvent(ctx, cluster, 'Normal', 'BackupScheduled', `created CronJob ${cronName} (schedule "${spec.backup.schedule}", keeping ${spec.backup.retain} backups on PVC ${claimName})`);
    }
    try {
      await observeBackups(ctx, state, cronName);
    } catch (err) {
      ctx.logger.warn('cannot read backup Jobs', { error: errorMessage(err) });
    }
    return CONTINUE;
  },
};

const ownedByCronJob = (job: V1Job, cronName: string) => (job.metadata?.ownerReferences ?? []).some((o) => o.kind === 'CronJob' && o.name === cronName);
const newer = (a: string | undefined, b: string | undefined) => a !== undefined && (b === undefined || Date.parse(a) > Date.parse(b));

/**
 * status.backup from the Jobs still in the CronJob's history and what status said before (a
 * success older than the history limit is remembered there). A failure counts only while it is
 * newer than the last success. Events: one per newly seen successful or failed Job.
 */
export async function observeBackups(ctx: ReconcileContext, state: ReconcileState, cronName: string): Promise<void> {
  const { cluster } = state;
  const selector = `${LABELS.instance}=${metaName(cluster)},${LABELS.component}=backup`;
  const jobs = (await ctx.kube.list('Job', metaNamespace(cluster), selector)).filter((j) => ownedByCronJob(j, cronName));
  const prev: BackupStatus = cluster.status?.backup ?? {};
  let success: { job: string; at: string } | undefined;
  let failure: { job: V1Job; at: string; message: string } | undefined;
  for (const job of jobs) {
    const o = jobOutcome(job);
    if (o.kind === 'succeeded' && newer(o.at, success?.at)) success = { job: job.metadata!.name!, at: o.at };
    if (o.kind === 'failed' && newer(o.at, failure?.at)) failure = { job, at: o.at, message: o.message };
  }
  const next: BackupStatus = {};
  if (success !== undefined && (prev.lastSuccessfulTime === undefined || !newer(prev.lastSuccessfulTime, success.at))) {
    next.lastSuccessfulTime = success.at;
    next.lastJob = success.job;
    next.lastFile = backupFileOf(success.job);
  } else {
    if (prev.lastSuccessfulTime !== undefined) next.lastSuccessfulTime = prev.lastSuccessfulTime;
    if (prev.lastJob !== undefined) next.lastJob = prev.lastJob;
    if (prev.lastFile !== undefined) next.lastFile = prev.lastFile;
  }
  if (failure !== undefined && newer(failure.at, next.lastSuccessfulTime)) {
    const name = failure.job.metadata!.name!;
    next.lastFailedTime = failure.at;
    next.lastFailedJob = name;
    // The pods' output is read once per failed Job; afterwards status keeps it.
    next.lastError = name === prev.lastFailedJob && prev.lastError !== undefined ? prev.lastError : await jobFailureMessage(ctx.kube, failure.job, failure.message);
  } else if (prev.lastFailedTime !== undefined && newer(prev.lastFailedTime, next.lastSuccessfulTime)) {
    // Out of the Job history, still the latest news.
    next.lastFailedTime = prev.lastFailedTime;
    if (prev.lastFailedJob !== undefined) next.lastFailedJob = prev.lastFailedJob;
    if (prev.lastError !== undefined) next.lastError = prev.lastError;
  }
  state.backup = next;
  if (next.lastFailedJob !== undefined) {
    state.backupFailure = { reason: 'BackupFailed', message: `backup Job ${next.lastFailedJob} failed at ${next.lastFailedTime}: ${next.lastError ?? 'no details'}` };
  }
  if (next.lastJob !== undefined && next.lastJob !== prev.lastJob) {
    await recordEvent(ctx, cluster, 'Normal', 'BackupSucceeded', `backup ${next.lastFile} written by Job ${next.lastJob}`);
  }
  if (next.lastFailedJob !== undefined && next.lastFailedJob !== prev.lastFailedJob) {
    await recordEvent(ctx, cluster, 'Warning', 'BackupJobFailed', `backup Job ${next.lastFailedJob} failed: ${next.lastError ?? 'no details'}`);
  }
}
