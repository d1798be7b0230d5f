// spec.restore: before the StatefulSet exists, copy the backup file onto pod 0's volume with a Job
// (specs/restore.ts). The StatefulSet is created only once the copy is complete, so pod 0 finds
// the file at its first start and starts from it; the membership step then adopts the restored
// cluster (its new cluster id) and adds the other pods. Nothing here runs again once status
// records the copy or the cluster id.
import type { RestoreStatus } from '../api/types.js';
import { buildFirstDataClaim, buildRestoreJob, firstDataClaimName, restoreJobName } from '../specs/restore.js';
import { isOwnedBy, metaNamespace, namesOf } from '../specs/names.js';
import { recordEvent } from './events.js';
import { jobFailureMessage, jobOutcome } from './jobs.js';
import { ensureOwned } from './objects.js';
import { CONTINUE, requeue, type Step } from './types.js';

export const ensureRestore: Step = {
  name: 'ensureRestore',
  async run(ctx, state) {
    const { cluster, spec } = state;
    const restore = spec.restore;
    if (restore === undefined) return CONTINUE;
    const prev = cluster.status?.restore;
    const base: RestoreStatus = { ...prev, volumeClaimName: restore.volumeClaimName, file: restore.file };
    state.restore = base;
    if (base.copiedTime !== undefined || state.clusterId !== undefined) return CONTINUE;

    const ns = metaNamespace(cluster);
    const jobName = restoreJobName(cluster);
    let job = await ctx.kube.get('Job', ns, jobName);
    if (job === null) {
      // Only a cluster that has no pods yet is restored: never copy over a volume in use.
      if ((await ctx.kube.get('StatefulSet', ns, namesOf(cluster).statefulSet)) !== null) {
        state.issues.Degraded.push({ reason: 'RestoreFailed', message: `the StatefulSet exists but no restore was recorded; spec.restore applies to new clusters only` });
        return CONTINUE;
      }
      if ((await ctx.kube.get('PersistentVolumeClaim', ns, restore.volumeClaimName)) === null) {
        state.issues.Degraded.push({ reason: 'RestoreFailed', message: `backup PVC ${restore.volumeClaimName} (spec.restore.volumeClaimName) does not exist` });
        return requeue(ctx.options.slowMs, 'restore source missing');
      }
      const claim = firstDataClaimName(cluster);
      if ((await ctx.kube.get('PersistentVolumeClaim', ns, claim)) === null) await ctx.kube.create('PersistentVolumeClaim', buildFirstDataClaim(cluster));
      const r = await ensureOwned(ctx, state, 'Job', buildRestoreJob(cluster));
      if (r.kind === 'stop') return r.result;
      job = r.object;
      await recordEvent(ctx, cluster, 'Normal', 'RestoreStarted', `copying ${restore.file} from PVC ${restore.volumeClaimName} to PVC ${claim} (pod 0) with Job ${jobName}`);
    } else if (!isOwnedBy(job, cluster)) {
      state.issues.Degraded.push({ reason: 'ObjectConflict', message: `Job ${jobName} exists and is not owned by this ConfluxCluster` });
      return requeue(ctx.options.slowMs, `Job ${jobName} is not ours`);
    }
    const outcome = jobOutcome(job);
    if (outcome.kind === 'succeeded') {
      state.restore = { ...base, copiedTime: outcome.at };
      await recordEvent(ctx, cluster, 'Normal', 'RestoreCopied', `${restore.file} is on pod 0's volume; creating the pods`);
      return CONTINUE;
    }
    if (outcome.kind === 'failed') {
      const why = await jobFailureMessage(ctx.kube, job, outcome.message);
      state.issues.Degraded.push({
        reason: 'RestoreFailed',
        message: `restore Job ${jobName} failed: ${why}. Fix the cause (file name, PVC), then delete Job ${jobName} to try again`,
      });
      return requeue(ctx.options.slowMs, 'restore failed');
    }
    state.issues.Progressing.push({ reason: 'Restoring', message: `Job ${jobName} copies ${restore.file} from PVC ${restore.volumeClaimName} to pod 0's volume` });
    return requeue(ctx.options.waitMs, 'restore copy running');
  },
};
