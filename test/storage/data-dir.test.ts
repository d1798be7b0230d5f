import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDir, DATA_DIR_FORMAT, META_FILE } from '../../node/src/storage/data-dir.js';
import { CorruptionError, DataDirError } from '../../node/src/storage/errors.js';

describe('DataDir', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-datadir-'));
    dir = join(root, 'node-1');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const rewriteMeta = async (change: (m: Record<string, unknown>) => void): Promise<void> => {
    const meta = JSON.parse(await readFile(join(dir, META_FILE), 'utf8')) as Record<string, unknown>;
    change(meta);
    await writeFile(join(dir, META_FILE), JSON.stringify(meta));
  };

  it('initialises a missing directory with a random incarnation and keeps it across opens', async () => {
    const first = await DataDir.open(dir, { clusterId: 'c-1' });
    expect(first.created).toBe(true);
    expect(first.clusterId).toBe('c-1');
    expect(first.formatVersion).toBe(DATA_DIR_FORMAT);
    expect(first.incarnation).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.logDir).toBe(join(dir, 'wal'));
    expect(first.snapshotDir).toBe(join(dir, 'snapshots'));
    const again = await DataDir.open(dir, { clusterId: 'c-1' });
    expect(again.created).toBe(false);
    expect(again.incarnation).toBe(first.incarnation);
    expect(await readdir(dir)).toEqual([META_FILE]);
  });

  it('gives every new directory its own incarnation', async () => {
    const a = await DataDir.open(join(root, 'a'));
    const b = await DataDir.open(join(root, 'b'));
    expect(a.incarnation).not.toBe(b.incarnation);
  });

  it('initialises an existing empty directory', async () => {
    await mkdir(dir);
    expect((await DataDir.open(dir)).created).toBe(true);
  });

  it('refuses another cluster with a message naming both ids', async () => {
    await DataDir.open(dir, { clusterId: 'c-1' });
    const err = await DataDir.open(dir, { clusterId: 'c-2' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirError);
    expect((err as DataDirError).problem).toBe('cluster_mismatch');
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toMatch(/c-1.*c-2/);
  });

  it('opens without an expected cluster id, whatever the stored one', async () => {
    await DataDir.open(dir, { clusterId: 'c-1' });
    expect((await DataDir.open(dir)).clusterId).toBe('c-1');
  });

  it('lets a node that waited to be added adopt the cluster id once, durably', async () => {
    const d = await DataDir.open(dir);
    expect(d.clusterId).toBe('');
    // Without an id of its own, any expected id is accepted but not recorded.
    expect((await DataDir.open(dir, { clusterId: 'c-9' })).clusterId).toBe('');
    await d.adoptClusterId('c-9');
    await d.adoptClusterId('c-9');
    await expect(d.adoptClusterId('c-10')).rejects.toBeInstanceOf(DataDirError);
    const reopened = await DataDir.open(dir);
    expect(reopened.clusterId).toBe('c-9');
    expect(reopened.incarnation).toBe(d.incarnation);
    await expect(DataDir.open(dir, { clusterId: 'c-10' })).rejects.toBeInstanceOf(DataDirError);
  });

  it('refuses a newer format with a clear message, before looking at anything else', async () => {
    await DataDir.open(dir);
    await rewriteMeta((m) => {
      m.formatVersion = DATA_DIR_FORMAT + 1;
      m.somethingNew = true;
      delete m.checksum;
    });
    const err = await DataDir.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirError);
    expect((err as DataDirError).problem).toBe('newer_format');
    expect((err as Error).message).toMatch(/newer/);
  });

  it('refuses an unknown older format', async () => {
    await DataDir.open(dir);
    await rewriteMeta((m) => (m.formatVersion = 0));
    await expect(DataDir.open(dir)).rejects.toMatchObject({ problem: 'unknown_format' });
  });

  it('detects a damaged meta file: a changed field, broken JSON, missing fields', async () => {
    await DataDir.open(dir, { clusterId: 'c-1' });
    const original = await readFile(join(dir, META_FILE), 'utf8');
    await rewriteMeta((m) => {
      const inc = String(m.incarnation);
      m.incarnation = `${inc.slice(0, -1)}${inc.endsWith('0') ? '1' : '0'}`;
    });
    await expect(DataDir.open(dir)).rejects.toBeInstanceOf(CorruptionError);
    await writeFile(join(dir, META_FILE), original.slice(0, 20));
    const err = await DataDir.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toContain(join(dir));
    expect((err as Error).message).toContain(META_FILE);
    await writeFile(join(dir, META_FILE), JSON.stringify({ formatVersion: DATA_DIR_FORMAT }));
    await expect(DataDir.open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('refuses to initialise over files that are not a data directory', async () => {
    await mkdir(join(dir, 'log'), { recursive: true });
    await expect(DataDir.open(dir)).rejects.toMatchObject({ problem: 'not_a_data_dir' });
  });

  it('ignores and removes a meta file left half-written by a crash', async () => {
    await mkdir(dir);
    await writeFile(join(dir, `${META_FILE}.abc123.tmp`), '{"formatVer');
    const d = await DataDir.open(dir);
    expect(d.created).toBe(true);
    await writeFile(join(dir, `${META_FILE}.def456.tmp`), 'garbage');
    expect((await DataDir.open(dir)).incarnation).toBe(d.incarnation);
    expect(await readdir(dir)).toEqual([META_FILE]);
  });
});
