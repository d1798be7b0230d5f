// Scheduled backups (spec.backup): a CronJob that runs the cluster's image with `conflux snapshot
// save` against the pods, by their DNS names under the headless Service (a ClusterIP Service
// would do too in a real cluster, but the snapshot is taken from one member and the CLI tries the
// endpoints in order), writes `<job name>.cfxsnap` on the backup volume and keeps the newest
// `retain` files. The file is named after the Job, so the operator knows which file a successful
// Job wrote without reading the volume.
import type { V1CronJob, V1PersistentVolumeClaim, V1PodSpec } from '@kubernetes/client-node';
import { BACKUP_SIZE_DEFAULT, resolveSpec, type ConfluxCluster, type PodTemplateOverrides } from '../api/types.js';
import {
  AUTH_VOLUME,
  contentHash,
  labelsFor,
  memberURLs,
  metaName,
  metaNamespace,
  namesOf,
  ownerReference,
  PATHS,
  podName,
  SECRET_KEYS,
  withHash,
  type AddressOptions,
} from './names.js';

/** Where the backup volume is mounted in the backup Job's pod (and the restore Job's). */
export const BACKUP_MOUNT = '/backups';
export const BACKUP_VOLUME = 'backups';
export const BACKUP_EXTENSION = '.cfxsnap';
export const BACKUP_CONTAINER = 'backup';
/** The label the Job controller puts on a Job's pods (and that the backup script reads). */
export const JOB_NAME_LABEL = 'job-name';
/** CronJob names are at most 52 characters (the controller appends 11 to name its Jobs). */
const CRONJOB_NAME_MAX = 52;

/** `<name>-backup`, shortened with a hash when the cluster name is long. */
export function backupCronJobName(cluster: ConfluxCluster): string {
  const name = metaName(cluster);
  const plain = `${name}-backup`;
  if (plain.length <= CRONJOB_NAME_MAX) return plain;
  return `${name.slice(0, CRONJOB_NAME_MAX - 14).replace(/-+$/, '')}-${contentHash(name).slice(0, 6)}-backup`;
}

/** The PVC backups go to: the user's, or the one the operator creates. */
export function backupClaimName(cluster: ConfluxCluster): string {
  return cluster.spec.backup?.volumeClaimName ?? `${metaName(cluster)}-backups`;
}

/** The file a backup Job writes (relative to the backup volume). */
export function backupFileOf(jobName: string): string {
  return `${jobName}${BACKUP_EXTENSION}`;
}

/**
 * The backup PVC the operator creates when spec.backup.volumeClaimName is absent. Deliberately
 * not owned by the ConfluxCluster: deleting the cluster must not delete its backups.
 */
export function buildBackupClaim(cluster: ConfluxCluster): V1PersistentVolumeClaim {
  const backup = cluster.spec.backup;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: backupClaimName(cluster), namespace: metaNamespace(cluster), labels: labelsFor(cluster, 'backup') },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: backup?.size ?? BACKUP_SIZE_DEFAULT } },
      ...(backup?.storageClassName !== undefined ? { storageClassName: backup.storageClassName } : {}),
    },
  };
}

/** Single quotes for sh. */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The backup script: `conflux snapshot save` writes FILE.part, verifies it, fsyncs and renames it
 * (a failed run leaves no file that looks like a backup, and exits non-zero: the Job fails), then
 * all but the newest `retain` files of this CronJob are deleted. Leftover .part files of runs that
 * were killed are removed first.
 */
export function backupScript(cronJobName: string, endpoints: string[], retain: number): string {
  const prefix = `${BACKUP_MOUNT}/${cronJobName}-`;
  return [
    'set -eu',
    `rm -f ${shellQuote(prefix)}*${BACKUP_EXTENSION}.part`,
    `file=${shellQuote(BACKUP_MOUNT)}/"$JOB_NAME"${BACKUP_EXTENSION}`,
    `CONFLUX_TOKEN="$(cat ${shellQuote(`${PATHS.auth}/${SECRET_KEYS.admin}`)})"`,
    'export CONFLUX_TOKEN',
    `conflux --endpoints ${shellQuote(endpoints.join(','))} snapshot save "$file"`,
    `ls -1t ${shellQuote(prefix)}*${BACKUP_EXTENSION} | tail -n +${retain + 1} | while read -r old; do rm -f "$old"; done`,
    'echo "backup written to $file"',
  ].join('\n');
}

export function buildBackupCronJob(cluster: ConfluxCluster, o: AddressOptions): V1CronJob {
  const spec = resolveSpec(cluster.spec);
  const backup = spec.backup;
  if (backup === undefined) throw new Error('buildBackupCronJob without spec.backup');
  const name = backupCronJobName(cluster);
  const labels = labelsFor(cluster, 'backup');
  const endpoints = Array.from({ length: spec.replicas }, (_, i) => memberURLs(cluster, podName(cluster, i), o).clientURL);
  return withHash<V1CronJob>({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: metaNamespace(cluster), labels, ownerReferences: [ownerReference(cluster)] },
    spec: {
      // No timeZone: it needs tz data in the controller-manager; schedules follow its zone (UTC in
      // the usual images).
      schedule: backup.schedule,
      suspend: backup.suspend ?? false,
      // One backup at a time: two would race on the pruning.
      concurrencyPolicy: 'Forbid',
      // A backup missed by more than this (operator or controller down) is skipped, not run late.
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: 3600,
          template: {
            metadata: { labels },
            spec: {
              ...jobPodBasics(spec.podTemplate.spec),
              containers: [
                {
                  name: BACKUP_CONTAINER,
                  image: spec.image,
                  ...(spec.imagePullPolicy !== undefined ? { imagePullPolicy: spec.imagePullPolicy } : {}),
                  command: ['sh', '-c', backupScript(name, endpoints, backup.retain)],
                  env: [{ name: 'JOB_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.labels['${JOB_NAME_LABEL}']` } } }],
                  // The last lines of output become the termination message: status.backup.lastError.
                  terminationMessagePolicy: 'FallbackToLogsOnError',
                  volumeMounts: [
                    { name: BACKUP_VOLUME, mountPath: BACKUP_MOUNT },
                    { name: AUTH_VOLUME, mountPath: PATHS.auth, readOnly: true },
                  ],
                },
              ],
              volumes: [
                { name: BACKUP_VOLUME, persistentVolumeClaim: { claimName: backupClaimName(cluster) } },
                { name: AUTH_VOLUME, secret: { secretName: namesOf(cluster).authSecret, items: [{ key: SECRET_KEYS.admin, path: SECRET_KEYS.admin }] } },
              ],
            },
          },
        },
      },
    },
  });
}

/**
 * What the backup and restore Job pods share: run once, no Service links or API token (they only
 * talk to the Conflux pods and their volume), and the user's scheduling and security settings
 * from spec.podTemplate so that they land where the cluster's pods may run.
 */
export function jobPodBasics(userPod: PodTemplateOverrides['spec']): Partial<V1PodSpec> {
  const p: NonNullable<PodTemplateOverrides['spec']> = userPod ?? {};
  return {
    restartPolicy: 'Never',
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    ...(p.nodeSelector !== undefined ? { nodeSelector: p.nodeSelector } : {}),
    ...(p.tolerations !== undefined ? { tolerations: p.tolerations } : {}),
    ...(p.securityContext !== undefined ? { securityContext: p.securityContext } : {}),
    ...(p.imagePullSecrets !== undefined ? { imagePullSecrets: p.imagePullSecrets } : {}),
  };
}
