// Pure builders of the objects a ConfluxCluster owns.
export * from './names.js';
export { buildAuthSecret, randomToken, secretValue, type AuthTokens } from './secret.js';
export { buildClientService, buildPeerService } from './services.js';
export { buildStatefulSet, nodeArgs, DEFAULT_STATEFULSET_OPTIONS, type StatefulSetOptions } from './statefulset.js';
export { buildPodDisruptionBudget, maxUnavailableFor } from './pdb.js';
export { buildBackupClaim, buildBackupCronJob, backupClaimName, backupCronJobName, backupFileOf } from './backup.js';
export { buildFirstDataClaim, buildRestoreJob, firstDataClaimName, restoreJobName, restoreWrapperCommand, RESTORE_FILE } from './restore.js';
