// Creating a cluster from a backup (spec.restore). The operator creates pod 0's PVC itself
// (the name the StatefulSet's claim template gives it, so the StatefulSet adopts it) and runs a Job
// that checks the backup file (`conflux snapshot status`) and copies it onto that volume as
// restore.cfxsnap. The node container of a restore cluster starts through a small sh wrapper: when
// the file is there and the data directory is not, it runs `conflux-node --restore`, which
// refuses a non-empty data directory; every later start (and every other pod, whose volume has no
// such file) runs conflux-node as usual. The other pods then join as learners and are promoted.
import type { V1Job, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { resolveSpec, type ConfluxCluster } from '../api/types.js';
import { BACKUP_MOUNT, BACKUP_VOLUME, jobPodBasics, shellQuote } from './backup.js';
import { DATA_VOLUME, labelsFor, metaName, metaNamespace, namesOf, ownerReference, PATHS, selectorLabels, withHash } from './names.js';

/** Where the restore Job leaves the backup file on pod 0's volume. */
export const RESTORE_FILE = `${PATHS.data}/restore.cfxsnap`;
export const RESTORE_CONTAINER = 'restore';

export function restoreJobName(cluster: ConfluxCluster): string {
  return `${metaName(cluster)}-restore`;
}

/** The PVC the StatefulSet controller would create for pod 0 (`<template>-<set>-0`). */
export function firstDataClaimName(cluster: ConfluxCluster): string {
  return `${DATA_VOLUME}-${namesOf(cluster).statefulSet}-0`;
}

/** Pod 0's PVC, as the StatefulSet's claim template describes it (labels included). */
export function buildFirstDataClaim(cluster: ConfluxCluster): V1PersistentVolumeClaim {
  const spec = resolveSpec(cluster.spec);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: firstDataClaimName(cluster), namespace: metaNamespace(cluster), labels: selectorLabels(cluster) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: spec.storage.size } },
      ...(spec.storage.storageClassName !== undefined ? { storageClassName: spec.storage.storageClassName } : {}),
    },
  };
}

/** Checks the file, refuses a volume that already holds data, copies it in under its final name last. */
export function restoreScript(file: string, claim: string): string {
  const src = `${BACKUP_MOUNT}/${file}`;
  return [
    'set -eu',
    `src=${shellQuote(src)}`,
    `if [ ! -f "$src" ]; then echo "no file ${file.replace(/[^A-Za-z0-9_.-]/g, '')} on PVC ${claim}" >&2; exit 2; fi`,
    `if [ -e ${shellQuote(PATHS.dataDir)} ]; then echo "pod 0's volume already holds a data directory; not restoring over it" >&2; exit 3; fi`,
    'conflux snapshot status "$src"',
    `cp "$src" ${shellQuote(`${RESTORE_FILE}.partial`)}`,
    `mv ${shellQuote(`${RESTORE_FILE}.partial`)} ${shellQuote(RESTORE_FILE)}`,
    `echo "copied $src to ${RESTORE_FILE}"`,
  ].join('\n');
}

export function buildRestoreJob(cluster: ConfluxCluster): V1Job {
  const spec = resolveSpec(cluster.spec);
  const restore = spec.restore;
  if (restore === undefined) throw new Error('buildRestoreJob without spec.restore');
  const labels = labelsFor(cluster, 'restore');
  return withHash<V1Job>({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: restoreJobName(cluster), namespace: metaNamespace(cluster), labels, ownerReferences: [ownerReference(cluster)] },
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: 3600,
      template: {
        metadata: { labels },
        spec: {
          ...jobPodBasics(spec.podTemplate.spec),
          containers: [
            {
              name: RESTORE_CONTAINER,
              image: spec.image,
              ...(spec.imagePullPolicy !== undefined ? { imagePullPolicy: spec.imagePullPolicy } : {}),
              command: ['sh', '-c', restoreScript(restore.file, restore.volumeClaimName)],
              terminationMessagePolicy: 'FallbackToLogsOnError',
              volumeMounts: [
                { name: BACKUP_VOLUME, mountPath: BACKUP_MOUNT, readOnly: true },
                { name: DATA_VOLUME, mountPath: PATHS.data },
              ],
            },
          ],
          volumes: [
            { name: BACKUP_VOLUME, persistentVolumeClaim: { claimName: restore.volumeClaimName, readOnly: true } },
            { name: DATA_VOLUME, persistentVolumeClaim: { claimName: firstDataClaimName(cluster) } },
          ],
        },
      },
    },
  });
}

/**
 * The node container's command for a restore cluster: `sh -c WRAPPER conflux-node ARGS...`
 * (the args stay the usual ones, so `$(VAR)` expansion and the rollout hash work as before).
 */
export function restoreWrapperCommand(): string[] {
  const wrapper = [
    `if [ -f ${shellQuote(RESTORE_FILE)} ] && [ ! -e ${shellQuote(PATHS.dataDir)} ]; then`,
    `  exec conflux-node --restore=${shellQuote(RESTORE_FILE)} "$@"`,
    'fi',
    'exec conflux-node "$@"',
  ].join('\n');
  return ['sh', '-c', wrapper, 'conflux-node'];
}
