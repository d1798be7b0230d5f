// `conflux snapshot save FILE` and `conflux snapshot status FILE` (backups, issue #9).
// save: streams GET /admin/snapshot into FILE.part while verifying it, then fsync and rename, so
// FILE is either a complete, verified backup or not there at all. status: verifies a file offline.
// Exit codes as the rest of the CLI: 0 ok, 1 refused or invalid, 3 no endpoint reachable.
import { BackupFileError, inspectBackupFile, writeBackupFile } from '../storage/backup-file.js';
import { BackupFormatError, type BackupHeader, type BackupSummary } from '../store/backup-format.js';
import type { CliCommand } from './args.js';
import { ConfluxHttpError, OutcomeUnknownError, UnreachableError, type ConfluxClient } from './client.js';

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;

export interface SnapshotIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** What both commands print about a backup (JSON output has exactly these fields). */
export function describeBackup(file: string, s: BackupSummary): Record<string, unknown> {
  const h: BackupHeader = s.header;
  return {
    file,
    revision: h.revision,
    keys: h.keys,
    sizeBytes: s.sizeBytes,
    sha256: s.sha256,
    checksum: 'ok',
    index: h.index,
    term: h.term,
    compactedRevision: h.compactedRevision,
    keysWithHistory: h.keysWithHistory,
    records: h.records,
    clusterId: h.clusterId,
    nodeId: h.nodeId,
    createdAt: h.createdAt,
    consistency: h.consistency,
    format: h.format,
  };
}

function printDescription(d: Record<string, unknown>, json: boolean, io: SnapshotIO): void {
  if (json) io.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
  else for (const [k, v] of Object.entries(d)) io.stdout.write(`${k}: ${String(v)}\n`);
}

export async function snapshotSave(
  client: ConfluxClient,
  command: Extract<CliCommand, { name: 'snapshot-save' }>,
  options: { json: boolean; timeoutMs: number; signal?: AbortSignal },
  io: SnapshotIO,
): Promise<number> {
  let summary: BackupSummary;
  try {
    const stream = await client.backupStream({
      serializable: command.serializable,
      idleTimeoutMs: options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    summary = await writeBackupFile(command.file, stream);
  } catch (err) {
    // Refusals and unreachable endpoints are reported by the caller like every other command.
    if (err instanceof ConfluxHttpError || err instanceof UnreachableError || err instanceof OutcomeUnknownError) throw err;
    if (options.signal?.aborted === true) {
      io.stderr.write(`conflux: snapshot save interrupted; nothing was written to ${command.file}\n`);
      return EXIT_INVALID;
    }
    const what = err instanceof BackupFormatError || err instanceof BackupFileError ? `${err.code}: ${err.message}` : `the backup stream from ${client.endpoint} broke: ${err instanceof Error ? err.message : String(err)}`;
    io.stderr.write(`conflux: snapshot save failed: ${what}; nothing was written to ${command.file}\n`);
    return EXIT_INVALID;
  }
  printDescription(describeBackup(command.file, summary), options.json, io);
  return EXIT_OK;
}

export async function snapshotStatus(command: Extract<CliCommand, { name: 'snapshot-status' }>, options: { json: boolean }, io: SnapshotIO): Promise<number> {
  try {
    printDescription(describeBackup(command.file, await inspectBackupFile(command.file)), options.json, io);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof BackupFormatError || err instanceof BackupFileError)) throw err;
    if (options.json) io.stdout.write(`${JSON.stringify({ file: command.file, checksum: 'bad', code: err.code, message: err.message }, null, 2)}\n`);
    io.stderr.write(`conflux: ${command.file} is not a valid backup: ${err.code}: ${err.message}\n`);
    return EXIT_INVALID;
  }
}
