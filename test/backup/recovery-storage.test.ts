// Backup files on disk, restore into a data directory, --force-new-cluster and the data-format
// policy, at the storage level (the process tests run the same code through conflux-node).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeMembership } from '../../node/src/raft/membership.js';
import { BackupFileError, inspectBackupFile, writeBackupFile } from '../../node/src/storage/backup-file.js';
import { DataDir, formatPolicy, META_FILE, type FormatPolicy } from '../../node/src/storage/data-dir.js';
import { DataDirError } from '../../node/src/storage/errors.js';
import { assertNoUnfinishedForce, FORCE_MARKER, forceNewCluster } from '../../node/src/storage/force-new-cluster.js';
import { openNodeStorage } from '../../node/src/storage/node-storage.js';
import { assertNoUnfinishedRestore, RESTORE_MARKER, RestoreError, restoreDataDir } from '../../node/src/storage/restore.js';
import { BackupFormatError } from '../../node/src/store/backup-format.js';
import { KvStore } from '../../node/src/store/kv-store.js';
import { backupBytes, sampleStore } from './fixtures.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'conflux-backup-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function* chunksOf(bytes: Uint8Array, size = 100): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function* failingAfter(bytes: Uint8Array, n: number): AsyncGenerator<Uint8Array> {
  yield bytes.slice(0, n);
  throw new Error('connection reset');
}

const self = { id: 'r1', peerURL: 'http://127.0.0.1:1', clientURL: 'http://127.0.0.1:2' };

describe('backup files', () => {
  it('writes FILE only complete and verified, through FILE.part', async () => {
    const bytes = await backupBytes(sampleStore());
    const file = join(root, 'b.bak');
    let headerSeen = -1;
    const s = await writeBackupFile(file, chunksOf(bytes), { onHeader: (h) => (headerSeen = h.revision) });
    expect(headerSeen).toBe(s.header.revision);
    expect(Buffer.from(await readFile(file)).equals(Buffer.from(bytes))).toBe(true);
    expect(await readdir(root)).toEqual(['b.bak']);
    expect((await inspectBackupFile(file)).sha256).toBe(s.sha256);
  });

  it('leaves nothing behind when the stream breaks or is damaged, and keeps an older FILE', async () => {
    const bytes = await backupBytes(sampleStore());
    const file = join(root, 'b.bak');
    await expect(writeBackupFile(file, failingAfter(bytes, 300))).rejects.toThrow(/connection reset/);
    await expect(writeBackupFile(file, chunksOf(bytes.subarray(0, bytes.length - 3)))).rejects.toMatchObject({ code: 'backup_truncated' });
    expect(await readdir(root)).toEqual([]);
    await writeFile(file, 'old');
    const damaged = bytes.slice();
    damaged[100] = (damaged[100] as number) ^ 1;
    await expect(writeBackupFile(file, chunksOf(damaged))).rejects.toBeInstanceOf(BackupFormatError);
    expect(await readdir(root)).toEqual(['b.bak']);
    expect(await readFile(file, 'utf8')).toBe('old');
    await expect(writeBackupFile(file, chunksOf(bytes), { overwrite: false })).rejects.toMatchObject({ code: 'backup_exists' });
    await expect(writeBackupFile(join(root, 'no', 'such', 'dir.bak'), chunksOf(bytes))).rejects.toBeInstanceOf(BackupFileError);
  });

  it('reports an unreadable file as such', async () => {
    await expect(inspectBackupFile(join(root, 'missing.bak'))).rejects.toMatchObject({ code: 'backup_unreadable' });
  });
});

describe('restore into a data directory', () => {
  async function backupFile(store: KvStore = sampleStore()): Promise<string> {
    const file = join(root, 'b.bak');
    await writeFile(file, await backupBytes(store));
    return file;
  }

  it('creates a one-voter cluster with a new id whose snapshot is the backup', async () => {
    const store = sampleStore();
    const file = await backupFile(store);
    const dir = join(root, 'data');
    const r = await restoreDataDir({ path: dir, backupFile: file, self, newClusterId: () => 'new-cluster' });
    expect(r).toMatchObject({ kind: 'restored', clusterId: 'new-cluster' });
    const storage = await openNodeStorage(dir);
    try {
      expect(storage.dataDir.clusterId).toBe('new-cluster');
      expect(storage.initial.snapshot).toMatchObject({ index: store.appliedIndex(), term: 3 });
      expect(storage.initial.snapshot?.membership.members).toEqual([{ ...self, incarnation: storage.dataDir.incarnation, role: 'voter' }]);
      expect(storage.initial.hardState).toEqual({ term: 3, vote: null, commit: store.appliedIndex() });
      const restored = new KvStore();
      const reader = await storage.snapshots.openReader();
      await restored.restore(storage.initial.snapshot!, reader.chunks(0));
      await reader.close();
      expect(restored.revision()).toBe(store.revision());
      expect(restored.history('app/b')).toEqual(store.history('app/b'));
    } finally {
      await storage.close();
    }
    // Restarting with the same --restore resumes; another backup is refused.
    await expect(restoreDataDir({ path: dir, backupFile: file, self })).resolves.toMatchObject({ kind: 'already-restored', clusterId: 'new-cluster' });
    const other = join(root, 'other.bak');
    await writeFile(other, await backupBytes(new KvStore()));
    await expect(restoreDataDir({ path: dir, backupFile: other, self })).rejects.toMatchObject({ code: 'restore_other_backup' });
    await assertNoUnfinishedRestore(dir);
  });

  it('refuses a non-empty directory and creates nothing from a damaged file', async () => {
    const file = await backupFile();
    const used = join(root, 'used');
    await mkdir(used);
    await writeFile(join(used, 'something'), 'x');
    const err = await restoreDataDir({ path: used, backupFile: file, self }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).code).toBe('restore_target_not_empty');
    expect((err as Error).message).toContain('something');

    const bytes = await readFile(file);
    const cases: [string, Buffer][] = [
      ['bit flip', Buffer.from(bytes.map((b, i) => (i === 500 ? b ^ 4 : b)))],
      ['truncated', bytes.subarray(0, bytes.length - 50)],
      ['wrong magic', Buffer.concat([Buffer.from('XX'), bytes.subarray(2)])],
    ];
    for (const [name, content] of cases) {
      const bad = join(root, `${name}.bak`);
      await writeFile(bad, content);
      const dir = join(root, `data-${name}`);
      await expect(restoreDataDir({ path: dir, backupFile: bad, self }), name).rejects.toBeInstanceOf(BackupFormatError);
      expect(existsSync(dir), name).toBe(false);
    }
  });

  it('refuses a backup that was not taken from a running cluster (Raft index 0)', async () => {
    const file = join(root, 'empty.bak');
    await writeFile(file, await backupBytes(new KvStore()));
    const dir = join(root, 'data-empty');
    await expect(restoreDataDir({ path: dir, backupFile: file, self })).rejects.toMatchObject({ code: 'backup_corrupt' });
    expect(existsSync(dir)).toBe(false);
  });

  it('starts over after an interrupted restore, and a plain start refuses one', async () => {
    const file = await backupFile();
    const dir = join(root, 'data');
    await restoreDataDir({ path: dir, backupFile: file, self });
    const marker = JSON.parse(await readFile(join(dir, RESTORE_MARKER), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, RESTORE_MARKER), JSON.stringify({ ...marker, state: 'started' }));
    await expect(assertNoUnfinishedRestore(dir)).rejects.toMatchObject({ problem: 'recovery_unfinished' });
    const again = await restoreDataDir({ path: dir, backupFile: file, self, newClusterId: () => 'second' });
    expect(again).toMatchObject({ kind: 'restored', clusterId: 'second' });
    await assertNoUnfinishedRestore(dir);
  });
});

describe('force-new-cluster', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const oldMembers = {
    members: ['a', 'b', 'c'].map((id) => ({ id, incarnation: `inc-${id}`, role: 'voter' as const, peerURL: `http://${id}`, clientURL: `http://${id}c` })),
  };

  async function survivor(): Promise<string> {
    const dir = join(root, 'survivor');
    const storage = await openNodeStorage(dir, { clusterId: 'old-cluster' });
    await storage.log.write({
      hardState: { term: 4, vote: 'a', commit: 3 },
      entries: [
        { index: 1, term: 1, kind: 'config', data: enc(JSON.stringify(oldMembers)) },
        { index: 2, term: 2, kind: 'normal', data: enc('x') },
        { index: 3, term: 4, kind: 'normal', data: enc('y') },
        // Durable here, beyond the persisted commit hint: maybe acknowledged by the lost leader.
        { index: 4, term: 4, kind: 'normal', data: enc('z') },
      ],
    });
    await storage.close();
    return dir;
  }

  it('keeps the whole log and makes this node the only voter of a new cluster, once', async () => {
    const dir = await survivor();
    let storage = await openNodeStorage(dir);
    const r = await forceNewCluster(storage, { self: { id: 'a', peerURL: 'http://a2', clientURL: 'http://a2c' }, newClusterId: () => 'new-cluster' });
    expect(r).toEqual({ kind: 'forced', clusterId: 'new-cluster', previousClusterId: 'old-cluster', index: 5, term: 5, keptEntries: 4 });
    const state = await storage.log.load();
    expect(state.hardState).toEqual({ term: 5, vote: 'a', commit: 5 });
    expect(state.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    const last = state.entries[4]!;
    expect(last.kind).toBe('config');
    expect(decodeMembership(last.data)).toEqual({ members: [{ id: 'a', incarnation: storage.dataDir.incarnation, role: 'voter', peerURL: 'http://a2', clientURL: 'http://a2c' }] });
    await storage.close();

    storage = await openNodeStorage(dir);
    expect(storage.dataDir.clusterId).toBe('new-cluster');
    // The flag left on at the next start changes nothing.
    const again = await forceNewCluster(storage, { self: { id: 'a', peerURL: 'http://a2', clientURL: 'http://a2c' }, newClusterId: () => 'third' });
    expect(again.kind).toBe('already-forced');
    expect((await storage.log.load()).entries).toHaveLength(5);
    await assertNoUnfinishedForce(dir);
    await storage.close();
  });

  it('finishes an interrupted attempt with the id it chose, and a plain start refuses it meanwhile', async () => {
    const dir = await survivor();
    await writeFile(join(dir, FORCE_MARKER), JSON.stringify({ state: 'started', clusterId: 'chosen', previousClusterId: 'old-cluster', index: 0, term: 0, at: '' }));
    await expect(assertNoUnfinishedForce(dir)).rejects.toBeInstanceOf(DataDirError);
    const storage = await openNodeStorage(dir);
    const r = await forceNewCluster(storage, { self, newClusterId: () => 'not-this' });
    expect(r).toMatchObject({ kind: 'forced', clusterId: 'chosen', previousClusterId: 'old-cluster' });
    expect(storage.dataDir.clusterId).toBe('chosen');
    await storage.close();
  });

  it('refuses a directory without data', async () => {
    const storage = await openNodeStorage(join(root, 'empty'));
    await expect(forceNewCluster(storage, { self })).rejects.toMatchObject({ problem: 'not_a_data_dir' });
    await storage.close();
  });
});

describe('data format policy', () => {
  async function rewriteFormat(dir: string, formatVersion: number): Promise<void> {
    const m = JSON.parse(await readFile(join(dir, META_FILE), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, META_FILE), JSON.stringify({ ...m, formatVersion }));
  }

  it('reads the current format and refuses a newer one without touching it, naming both versions and the way back', async () => {
    const dir = join(root, 'd');
    const d = await DataDir.open(dir);
    expect((await DataDir.open(dir)).incarnation).toBe(d.incarnation);
    await rewriteFormat(dir, formatPolicy.current + 1);
    const before = await readFile(join(dir, META_FILE), 'utf8');
    const err = (await DataDir.open(dir).catch((e: unknown) => e)) as DataDirError;
    expect(err.problem).toBe('newer_format');
    expect(err.message).toContain(`data format ${formatPolicy.current + 1}`);
    expect(err.message).toContain(`reads formats ${formatPolicy.min} to ${formatPolicy.current}`);
    expect(err.message).toMatch(/restore a backup/);
    expect(await readFile(join(dir, META_FILE), 'utf8')).toBe(before);
  });

  it('upgrades an older format in place, one recorded step at a time (the mechanism, with a test policy)', async () => {
    const dir = join(root, 'd');
    const v1: FormatPolicy = { current: 1, min: 1, migrations: {} };
    const d = await DataDir.open(dir, { clusterId: 'c', formats: v1 });
    const steps: number[] = [];
    const v3: FormatPolicy = {
      current: 3,
      min: 1,
      migrations: {
        1: async (path) => {
          steps.push(1);
          await writeFile(join(path, 'v2-file'), 'made by the 1 -> 2 step');
        },
        2: async () => {
          steps.push(2);
          if (steps.filter((s) => s === 2).length === 1) throw new Error('crash during 2 -> 3');
        },
      },
    };
    await expect(DataDir.open(dir, { formats: v3 })).rejects.toThrow(/crash during/);
    const meta = JSON.parse(await readFile(join(dir, META_FILE), 'utf8')) as { formatVersion: number };
    expect(meta.formatVersion).toBe(2);
    const upgraded = await DataDir.open(dir, { formats: v3 });
    expect(steps).toEqual([1, 2, 2]);
    expect(upgraded.formatVersion).toBe(3);
    expect(upgraded.incarnation).toBe(d.incarnation);
    expect(upgraded.clusterId).toBe('c');
    expect(await readFile(join(dir, 'v2-file'), 'utf8')).toMatch(/1 -> 2/);
    // Too old for a binary that dropped the path, or a missing step: refused, not guessed.
    await expect(DataDir.open(dir, { formats: { current: 5, min: 4, migrations: {} } })).rejects.toMatchObject({ problem: 'unknown_format' });
    await expect(DataDir.open(dir, { formats: { current: 4, min: 1, migrations: {} } })).rejects.toMatchObject({ problem: 'unknown_format' });
  });
});
