import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptionError, DataDirError } from '../../node/src/storage/errors.js';
import { openNodeStorage } from '../../node/src/storage/node-storage.js';
import type { NodeStorage } from '../../node/src/storage/node-storage.js';
import { crc32c } from '../../node/src/storage/crc32c.js';
import { comparable, entries } from '../conformance/log-storage.case.js';
import { chunked, snapshotBytes, snapshotMeta } from './fixtures.js';

describe('openNodeStorage', () => {
  let root: string;
  let dir: string;
  let opened: NodeStorage | null = null;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-node-storage-'));
    dir = join(root, 'data');
  });

  afterEach(async () => {
    await opened?.close().catch(() => undefined);
    opened = null;
    await rm(root, { recursive: true, force: true });
  });

  const reopen = async (): Promise<NodeStorage> => {
    await opened?.close();
    opened = await openNodeStorage(dir, { clusterId: 'c-1' });
    return opened;
  };

  it('initialises a fresh node: identity, empty log, no snapshot', async () => {
    const s = await reopen();
    expect(s.dataDir.created).toBe(true);
    expect(s.dataDir.clusterId).toBe('c-1');
    expect(s.initial).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    expect(s.snapshots.latest()).toBeNull();
    const again = await reopen();
    expect(again.dataDir.created).toBe(false);
    expect(again.dataDir.incarnation).toBe(s.dataDir.incarnation);
  });

  it('after a crash between saving a local snapshot and purging: records the snapshot, keeps the log', async () => {
    const s = await reopen();
    await s.log.write({ hardState: { term: 1, vote: 'n1', commit: 10 }, entries: entries(1, 10, 1) });
    await s.snapshots.save(snapshotMeta(6, 1), chunked(snapshotBytes(100, 1), [50]));
    const after = await reopen();
    expect(after.initial.snapshot).toEqual(snapshotMeta(6, 1));
    expect(comparable(after.initial.entries)).toEqual(comparable(entries(7, 10, 1)));
    expect(after.log.firstIndex()).toBe(1);
  });

  it('after a crash between receiving a snapshot and installing it: the install is finished', async () => {
    const s = await reopen();
    await s.log.write({ hardState: { term: 1, vote: null, commit: 2 }, entries: entries(1, 10, 1) });
    const data = snapshotBytes(1000, 2);
    const receiver = await s.snapshots.beginReceive(snapshotMeta(8, 2), { checksum: crc32c(data) });
    await receiver.writeChunk(0, data);
    await receiver.finish();
    const after = await reopen();
    expect(after.initial.snapshot).toEqual(snapshotMeta(8, 2));
    expect(after.initial.entries).toEqual([]);
    expect(after.log.firstIndex()).toBe(9);
    expect(after.log.lastIndex()).toBe(8);
  });

  it('refuses a log that continues from a snapshot the store does not have', async () => {
    const s = await reopen();
    await s.log.installSnapshot(snapshotMeta(5, 1));
    await s.close();
    opened = null;
    await expect(openNodeStorage(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('refuses another cluster, and leaves nothing open behind', async () => {
    await reopen();
    await opened!.close();
    opened = null;
    await expect(openNodeStorage(dir, { clusterId: 'c-2' })).rejects.toBeInstanceOf(DataDirError);
    expect((await reopen()).dataDir.clusterId).toBe('c-1');
  });
});
