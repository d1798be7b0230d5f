import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../node/src/storage/crc32c.js';
import {
  ClosedError,
  SnapshotChecksumError,
  SnapshotNotFoundError,
  SnapshotOffsetError,
  StaleSnapshotError,
} from '../../node/src/storage/errors.js';
import { SnapshotStore } from '../../node/src/storage/snapshot-store.js';
import type { SnapshotReader } from '../../node/src/storage/snapshot-store.js';
import { chunked, snapshotBytes, snapshotMeta as meta } from './fixtures.js';

async function readAll(reader: SnapshotReader, offset = 0, chunkBytesMax?: number): Promise<{ data: Uint8Array; chunks: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of reader.chunks(offset, chunkBytesMax)) parts.push(chunk);
  return { data: Buffer.concat(parts), chunks: parts.map((p) => p.length) };
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

describe('SnapshotStore', () => {
  let dir: string;
  let store: SnapshotStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conflux-snap-'));
    store = await SnapshotStore.open(join(dir, 'snapshots'));
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const files = async (): Promise<string[]> => (await readdir(join(dir, 'snapshots'))).sort();

  it('starts empty', async () => {
    expect(store.latest()).toBeNull();
    await expect(store.openReader()).rejects.toBeInstanceOf(SnapshotNotFoundError);
  });

  it('saves from chunks, records size and CRC32C with the meta, and reads back in bounded chunks from any offset', async () => {
    const data = snapshotBytes(300_000, 1);
    const info = await store.save(meta(10, 2), chunked(data, [1, 4096, 65_536, 7]));
    expect(info.meta).toEqual(meta(10, 2));
    expect(info.sizeBytes).toBe(data.length);
    expect(info.checksum).toBe(crc32c(data));
    expect(store.latest()).toEqual(info);
    const reader = await store.openReader();
    const all = await readAll(reader, 0, 100_000);
    expect(same(all.data, data)).toBe(true);
    expect(all.chunks).toEqual([100_000, 100_000, 100_000]);
    const resumed = await readAll(reader, 123_457, 50_000);
    expect(same(resumed.data, data.subarray(123_457))).toBe(true);
    expect(Math.max(...resumed.chunks)).toBeLessThanOrEqual(50_000);
    expect((await readAll(reader, data.length)).chunks).toEqual([]);
    await expect(readAll(reader, data.length + 1)).rejects.toBeInstanceOf(RangeError);
    await reader.close();
  });

  it('survives reopening, and keeps only the latest snapshot', async () => {
    await store.save(meta(10), chunked(snapshotBytes(1000, 1), [100]));
    const second = await store.save(meta(20), chunked(snapshotBytes(2000, 2), [333]));
    expect(await files()).toEqual(['snapshot-00000000000000000020-1.snap']);
    await store.close();
    store = await SnapshotStore.open(join(dir, 'snapshots'));
    expect(store.latest()).toEqual(second);
    expect(same((await readAll(await store.openReader())).data, snapshotBytes(2000, 2))).toBe(true);
  });

  it('keeps a replaced snapshot readable through a reader opened before, and refuses new readers of it', async () => {
    const first = await store.save(meta(10), chunked(snapshotBytes(5000, 1), [1000]));
    const reader = await store.openReader();
    await store.save(meta(20), chunked(snapshotBytes(10, 2), [10]));
    expect(same((await readAll(reader, 0, 777)).data, snapshotBytes(5000, 1))).toBe(true);
    await reader.close();
    await expect(store.openReader(first)).rejects.toBeInstanceOf(SnapshotNotFoundError);
  });

  it('refuses an older snapshot and accepts the same index again', async () => {
    await store.save(meta(10), chunked(snapshotBytes(10, 1), [10]));
    await expect(store.save(meta(9), chunked(snapshotBytes(10, 2), [10]))).rejects.toBeInstanceOf(StaleSnapshotError);
    const again = await store.save(meta(10), chunked(snapshotBytes(20, 3), [5]));
    expect(again.sizeBytes).toBe(20);
    expect(await files()).toEqual(['snapshot-00000000000000000010-1.snap']);
  });

  it('stores an empty snapshot', async () => {
    const info = await store.save(meta(3), chunked(new Uint8Array(0), [1]));
    expect(info.sizeBytes).toBe(0);
    await store.close();
    store = await SnapshotStore.open(join(dir, 'snapshots'));
    expect(store.latest()?.sizeBytes).toBe(0);
    expect((await readAll(await store.openReader())).data.length).toBe(0);
  });

  it('deletes the partial file when the source stream fails', async () => {
    await store.save(meta(5), chunked(snapshotBytes(10, 1), [10]));
    async function* failing(): AsyncIterable<Uint8Array> {
      yield new Uint8Array(100);
      throw new Error('state machine went away');
    }
    await expect(store.save(meta(6), failing())).rejects.toThrow('state machine went away');
    expect(await files()).toEqual(['snapshot-00000000000000000005-1.snap']);
    expect(store.latest()?.meta.index).toBe(5);
  });

  it('ignores and deletes a half-written snapshot (temp file) at open', async () => {
    const good = await store.save(meta(5), chunked(snapshotBytes(100, 1), [10]));
    const receiver = await store.beginReceive(meta(9), { checksum: 0 });
    await receiver.writeChunk(0, snapshotBytes(500, 9));
    // The process dies here: no finish, no abort.
    await writeFile(join(dir, 'snapshots', 'snapshot-00000000000000000007-1.snap.abcdef.tmp'), 'half');
    const next = await SnapshotStore.open(join(dir, 'snapshots'));
    expect(next.latest()).toEqual(good);
    expect(await files()).toEqual(['snapshot-00000000000000000005-1.snap']);
    await next.close();
  });

  describe('receiving in chunks', () => {
    const data = snapshotBytes(10_000, 42);

    it('accepts chunks at the expected offsets, verifies and publishes', async () => {
      const receiver = await store.beginReceive(meta(50, 3), { checksum: crc32c(data), sizeBytes: data.length });
      for (let offset = 0; offset < data.length; offset += 3000) {
        expect(receiver.nextOffset).toBe(offset);
        await receiver.writeChunk(offset, data.subarray(offset, offset + 3000));
      }
      const info = await receiver.finish();
      expect(info).toMatchObject({ meta: meta(50, 3), sizeBytes: data.length, checksum: crc32c(data) });
      expect(store.latest()).toEqual(info);
      expect(same((await readAll(await store.openReader())).data, data)).toBe(true);
      await expect(receiver.writeChunk(data.length, new Uint8Array(1))).rejects.toBeInstanceOf(ClosedError);
    });

    it('rejects a chunk at the wrong offset with the offset to resume from', async () => {
      const receiver = await store.beginReceive(meta(50), { checksum: crc32c(data) });
      await receiver.writeChunk(0, data.subarray(0, 4000));
      // A retransmission of the first chunk, then a gap: both refused, nothing written.
      for (const offset of [0, 5000]) {
        const err = await receiver.writeChunk(offset, data.subarray(offset, offset + 1000)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SnapshotOffsetError);
        expect((err as SnapshotOffsetError).expectedOffset).toBe(4000);
      }
      await receiver.writeChunk(4000, data.subarray(4000));
      expect((await receiver.finish()).checksum).toBe(crc32c(data));
    });

    it('refuses a snapshot whose checksum or size differs from the announced one, keeping the old one', async () => {
      const old = await store.save(meta(10), chunked(snapshotBytes(10, 1), [10]));
      const badSum = await store.beginReceive(meta(50), { checksum: crc32c(data) ^ 1 });
      await badSum.writeChunk(0, data);
      await expect(badSum.finish()).rejects.toBeInstanceOf(SnapshotChecksumError);

      const tooBig = await store.beginReceive(meta(50), { checksum: crc32c(data), sizeBytes: data.length - 1 });
      await expect(tooBig.writeChunk(0, data)).rejects.toBeInstanceOf(SnapshotChecksumError);
      await tooBig.abort();

      const short = await store.beginReceive(meta(50), { checksum: crc32c(data), sizeBytes: data.length + 1 });
      await short.writeChunk(0, data);
      await expect(short.finish()).rejects.toBeInstanceOf(SnapshotChecksumError);

      expect(store.latest()).toEqual(old);
      expect(await files()).toEqual(['snapshot-00000000000000000010-1.snap']);
    });

    it('a new offer aborts the receive in progress; abort deletes the partial data', async () => {
      const first = await store.beginReceive(meta(50), { checksum: crc32c(data) });
      await first.writeChunk(0, data.subarray(0, 10));
      const second = await store.beginReceive(meta(60), { checksum: crc32c(data) });
      await expect(first.writeChunk(10, data.subarray(10))).rejects.toBeInstanceOf(ClosedError);
      await second.writeChunk(0, data.subarray(0, 10));
      expect((await files()).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
      await second.abort();
      expect(await files()).toEqual([]);
    });

    it('refuses to receive a snapshot older than the latest one, and one finished after a newer one was saved', async () => {
      await store.save(meta(100), chunked(snapshotBytes(10, 1), [10]));
      await expect(store.beginReceive(meta(50), { checksum: 0 })).rejects.toBeInstanceOf(StaleSnapshotError);
      const receiver = await store.beginReceive(meta(150), { checksum: crc32c(data) });
      await receiver.writeChunk(0, data);
      await store.save(meta(200), chunked(snapshotBytes(10, 2), [10]));
      await expect(receiver.finish()).rejects.toBeInstanceOf(StaleSnapshotError);
      expect(store.latest()?.meta.index).toBe(200);
      expect(await files()).toEqual(['snapshot-00000000000000000200-1.snap']);
    });
  });
});
