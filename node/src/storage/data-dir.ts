// A node's data directory: the identity file, the Raft log and the snapshots.
//
//   <dir>/conflux-meta.json   {formatVersion, clusterId, incarnation, checksum}
//   <dir>/wal/                the write-ahead log (wal-log-storage.ts); format 1 had a LevelDB
//                             log in <dir>/log/ instead (level-log-storage.ts, log-migration.ts)
//   <dir>/snapshots/          snapshot files (snapshot-store.ts)
//
// The incarnation is drawn once, when the directory is first initialised, and never changes: a
// node whose disk was wiped comes back with a new one, so its peers can tell it is not the voter
// it used to be (design section 2, "Identity").
import { randomUUID } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc32c.js';
import { mkdirDurable, writeFileDurable } from './durable-fs.js';
import { CorruptionError, DataDirError } from './errors.js';
import { migrateLevelLogToWal } from './log-migration.js';

// Format policy (docs/runbooks.md, "Upgrade"). One number covers everything in the directory: the
// meta file, the log's records, the entry codec, snapshot files and the store image. It is
// bumped when any of them changes in a way an older binary would misread. A binary writes
// DATA_DIR_FORMAT and reads DATA_DIR_FORMAT_MIN..DATA_DIR_FORMAT: an older directory is upgraded
// in place at open, one step at a time (DATA_DIR_MIGRATIONS[n] turns format n into n + 1, and the
// meta file is rewritten after each step, so a crash resumes from the last finished step). A newer
// directory is refused, never touched: downgrades go through a backup (conflux snapshot save,
// conflux-node --restore), which has its own format number.
//   1  the Raft log in LevelDB (<dir>/log)
//   2  the Raft log in a write-ahead log of segment files (<dir>/wal); 1 -> 2 copies the log
export const DATA_DIR_FORMAT = 2;
export const DATA_DIR_FORMAT_MIN = 1;
export const META_FILE = 'conflux-meta.json';

/** One in-place upgrade step of a directory's contents (not its meta file, which open() rewrites). */
export type DataDirMigration = (path: string) => Promise<void>;

/** The formats a binary reads and writes; tests open directories with another policy. */
export interface FormatPolicy {
  current: number;
  min: number;
  /** migrations[n]: format n -> n + 1, for min <= n < current. */
  migrations: Readonly<Record<number, DataDirMigration>>;
}

export const DATA_DIR_MIGRATIONS: Readonly<Record<number, DataDirMigration>> = { 1: migrateLevelLogToWal };

export const formatPolicy: FormatPolicy = { current: DATA_DIR_FORMAT, min: DATA_DIR_FORMAT_MIN, migrations: DATA_DIR_MIGRATIONS };

export interface DataDirMeta {
  formatVersion: number;
  /** '' until the node bootstraps a cluster or adopts the id of the cluster that added it. */
  clusterId: string;
  incarnation: string;
}

export interface DataDirOptions {
  /**
   * For a new directory: the cluster id to record ('' or absent for a node that waits to be
   * added). For an existing one: the id it must already have, if it has one; a directory of
   * another cluster is refused. An existing directory without an id keeps none (see
   * adoptClusterId).
   */
  clusterId?: string;
  /** The format policy (default: this binary's). */
  formats?: FormatPolicy;
}

export class DataDir {
  private constructor(
    readonly path: string,
    private meta: DataDirMeta,
    /** True when this open() initialised the directory (a brand-new node). */
    readonly created: boolean,
  ) {}

  get clusterId(): string {
    return this.meta.clusterId;
  }

  get incarnation(): string {
    return this.meta.incarnation;
  }

  get formatVersion(): number {
    return this.meta.formatVersion;
  }

  /** The Raft log (wal-log-storage.ts). */
  get logDir(): string {
    return join(this.path, 'wal');
  }

  get snapshotDir(): string {
    return join(this.path, 'snapshots');
  }

  /**
   * Opens `path`, initialising it when it is missing or empty.
   * Rejects with DataDirError when the directory has a newer or unknown format, belongs to another
   * cluster, or holds files but no meta file (it is not ours to overwrite); with CorruptionError
   * when the meta file is damaged.
   */
  static async open(path: string, options: DataDirOptions = {}): Promise<DataDir> {
    await mkdirDurable(path);
    const metaPath = join(path, META_FILE);
    let text: string | null = null;
    try {
      text = await readFile(metaPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === null) return DataDir.initialise(path, options);

    const formats = options.formats ?? formatPolicy;
    let meta = parseMeta(path, text, formats);
    await removeMetaLeftovers(path, await readdir(path));
    meta = await upgrade(path, meta, formats);
    const wanted = options.clusterId ?? '';
    if (wanted !== '' && meta.clusterId !== '' && wanted !== meta.clusterId) {
      throw new DataDirError(path, 'cluster_mismatch', `belongs to cluster ${meta.clusterId}, not ${wanted}`);
    }
    return new DataDir(path, meta, false);
  }

  /**
   * Records the cluster id of a node that waited to be added. Idempotent for the same id.
   * Rejects with DataDirError when the directory already belongs to another cluster.
   */
  async adoptClusterId(clusterId: string): Promise<void> {
    if (clusterId === '') throw new RangeError('adoptClusterId: the cluster id is empty');
    if (this.meta.clusterId === clusterId) return;
    if (this.meta.clusterId !== '') {
      throw new DataDirError(this.path, 'cluster_mismatch', `belongs to cluster ${this.meta.clusterId}, cannot adopt ${clusterId}`);
    }
    const next = { ...this.meta, clusterId };
    await writeMeta(this.path, next);
    this.meta = next;
  }

  /**
   * Moves this directory to a new cluster: `conflux-node --force-new-cluster` only, after which the
   * members of the old cluster are refused (cluster_mismatch) whatever their logs say.
   */
  async replaceClusterId(clusterId: string): Promise<void> {
    if (clusterId === '') throw new RangeError('replaceClusterId: the cluster id is empty');
    if (this.meta.clusterId === clusterId) return;
    const next = { ...this.meta, clusterId };
    await writeMeta(this.path, next);
    this.meta = next;
  }

  private static async initialise(path: string, options: DataDirOptions): Promise<DataDir> {
    const names = await readdir(path);
    const leftovers = names.filter(isMetaLeftover);
    if (names.length > leftovers.length) {
      throw new DataDirError(
        path,
        'not_a_data_dir',
        `holds ${names.filter((n) => !leftovers.includes(n)).slice(0, 5).join(', ')} but no ${META_FILE}; refusing to initialise over existing files`,
      );
    }
    await removeMetaLeftovers(path, leftovers);
    const meta: DataDirMeta = { formatVersion: (options.formats ?? formatPolicy).current, clusterId: options.clusterId ?? '', incarnation: randomUUID() };
    await writeMeta(path, meta);
    return new DataDir(path, meta, true);
  }
}

const isMetaLeftover = (name: string): boolean => name.startsWith(`${META_FILE}.`) && name.endsWith('.tmp');

/** Temp files of a meta write that a crash interrupted; the rename never happened, so they mean nothing. */
async function removeMetaLeftovers(path: string, names: string[]): Promise<void> {
  for (const name of names.filter(isMetaLeftover)) await rm(join(path, name), { force: true });
}

function checksumOf(meta: DataDirMeta): number {
  return crc32c(new TextEncoder().encode(JSON.stringify([meta.formatVersion, meta.clusterId, meta.incarnation])));
}

async function writeMeta(path: string, meta: DataDirMeta): Promise<void> {
  const body = JSON.stringify({ ...meta, checksum: checksumOf(meta) }, null, 2) + '\n';
  await writeFileDurable(join(path, META_FILE), new TextEncoder().encode(body));
}

/** Runs the migrations from the directory's format up to the current one, recording each step. */
async function upgrade(path: string, meta: DataDirMeta, formats: FormatPolicy): Promise<DataDirMeta> {
  let current = meta;
  while (current.formatVersion < formats.current) {
    const step = formats.migrations[current.formatVersion];
    if (step === undefined) {
      throw new DataDirError(path, 'unknown_format', `no upgrade from data format ${current.formatVersion} to ${current.formatVersion + 1} in this binary`);
    }
    await step(path);
    current = { ...current, formatVersion: current.formatVersion + 1 };
    await writeMeta(path, current);
  }
  return current;
}

function parseMeta(path: string, text: string, formats: FormatPolicy): DataDirMeta {
  const damaged = (detail: string): CorruptionError => new CorruptionError({ dir: path, file: META_FILE }, detail);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw damaged('not a JSON object');
  const r = raw as Record<string, unknown>;
  // The version comes first: a newer format may have changed everything else, checksum included.
  if (typeof r.formatVersion !== 'number' || !Number.isInteger(r.formatVersion)) throw damaged('no format version');
  const readable = formats.min === formats.current ? `format ${formats.current}` : `formats ${formats.min} to ${formats.current}`;
  if (r.formatVersion > formats.current) {
    throw new DataDirError(
      path,
      'newer_format',
      `data format ${r.formatVersion} was written by a newer Conflux; this binary reads ${readable}. ` +
        'Run the newer version again (the directory was not changed), or, to go back to this version, restore a backup ' +
        '(conflux snapshot save on the newer cluster, then conflux-node --restore into an empty directory)',
    );
  }
  if (r.formatVersion < formats.min) {
    throw new DataDirError(
      path,
      'unknown_format',
      `data format ${r.formatVersion} is older than this binary reads (${readable}); upgrade through an intermediate Conflux release first, or restore a backup`,
    );
  }
  if (typeof r.clusterId !== 'string' || typeof r.incarnation !== 'string' || r.incarnation === '') throw damaged('missing fields');
  const meta: DataDirMeta = { formatVersion: r.formatVersion, clusterId: r.clusterId, incarnation: r.incarnation };
  if (r.checksum !== checksumOf(meta)) throw damaged('checksum mismatch');
  return meta;
}
