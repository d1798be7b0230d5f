// The backup file format (node/src/store/backup-format.ts): encode, verify at any chunking, and
// refuse every kind of damage with a stable code.
import { describe, expect, it } from 'vitest';
import {
  BACKUP_FORMAT,
  BACKUP_TRAILER_BYTES,
  BackupFormatError,
  BackupVerifier,
  backupHeaderOf,
  encodeBackup,
  type BackupSummary,
} from '../../node/src/store/backup-format.js';
import { KvStore } from '../../node/src/store/kv-store.js';
import { decodeImage } from '../../node/src/store/snapshot-reader.js';
import { collect, enc, meta, rechunk } from '../store/helpers.js';
import { backupBytes, sampleStore } from './fixtures.js';

function verify(bytes: Uint8Array, chunkBytes = 1 << 20): BackupSummary {
  const v = new BackupVerifier();
  for (let i = 0; i < bytes.length; i += chunkBytes) v.push(bytes.subarray(i, i + chunkBytes));
  return v.end();
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof BackupFormatError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('backup format', () => {
  it('states revision, key counts, index and source in its header, and verifies at any chunking', async () => {
    const store = sampleStore();
    const bytes = await backupBytes(store);
    for (const chunk of [1, 7, 4096, 1 << 20]) {
      const s = verify(bytes, chunk);
      expect(s.sizeBytes).toBe(bytes.length);
      expect(s.header).toMatchObject({
        format: BACKUP_FORMAT,
        clusterId: 'c-1',
        nodeId: 'n1',
        consistency: 'linearizable',
        index: store.appliedIndex(),
        term: 3,
        revision: store.revision(),
        keys: store.keyCount(),
        keysWithHistory: 5,
        records: 9,
      });
      expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(s.imageOffset + s.imageBytes + BACKUP_TRAILER_BYTES).toBe(bytes.length);
    }
  });

  it('carries the image a store restores to the same state (histories, revisions, deletes)', async () => {
    const store = sampleStore();
    const bytes = await backupBytes(store);
    const s = verify(bytes);
    const image = bytes.subarray(s.imageOffset, s.imageOffset + s.imageBytes);
    const restored = new KvStore();
    await restored.restore(meta(s.header.index, s.header.term), rechunk(image, 997));
    expect(restored.revision()).toBe(store.revision());
    expect(restored.keyCount()).toBe(store.keyCount());
    for (const key of ['app/a', 'app/b', 'bin', 'big', 'ü/κλειδί']) expect(restored.history(key)).toEqual(store.history(key));
    expect(restored.changeAt(2)).toEqual(store.changeAt(2));
    await expect(decodeImage({ index: s.header.index, term: s.header.term }, rechunk(image, 1000))).resolves.toBeDefined();
  });

  it('is deterministic for the same state and time', async () => {
    const store = sampleStore();
    expect(Buffer.from(await backupBytes(store)).equals(Buffer.from(await backupBytes(store)))).toBe(true);
  });

  it('refuses a flipped bit anywhere: header, image, trailer', async () => {
    const bytes = await backupBytes(sampleStore());
    const codes = new Set<string>();
    for (let i = 0; i < bytes.length; i += Math.max(1, Math.floor(bytes.length / 300))) {
      const damaged = bytes.slice();
      damaged[i] = (damaged[i] as number) ^ 0x10;
      const code = codeOf(() => verify(damaged, 4096));
      expect(code, `flip at byte ${i}`).not.toBe('accepted');
      codes.add(code);
    }
    // The last byte is in the SHA-256 itself.
    const last = bytes.slice();
    last[last.length - 1] = (last[last.length - 1] as number) ^ 1;
    expect(codeOf(() => verify(last))).toBe('backup_checksum_mismatch');
    expect(codes.has('backup_bad_magic')).toBe(true);
    expect(codes.has('backup_corrupt')).toBe(true);
  });

  it('refuses every truncation, and bytes after the trailer', async () => {
    const bytes = await backupBytes(sampleStore());
    for (let n = 0; n < bytes.length; n += Math.max(1, Math.floor(bytes.length / 200))) {
      expect(codeOf(() => verify(bytes.subarray(0, n))), `cut at ${n}`).toBe('backup_truncated');
    }
    expect(codeOf(() => verify(bytes.subarray(0, bytes.length - 1)))).toBe('backup_truncated');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(codeOf(() => verify(longer))).toBe('backup_corrupt');
    const v = new BackupVerifier();
    v.push(bytes);
    expect(() => v.push(new Uint8Array([1]))).toThrow(/after the trailer/);
  });

  it('refuses another file type, and says what is wrong', async () => {
    expect(codeOf(() => verify(enc('{"hello": "world"} and more bytes than a magic')))).toBe('backup_bad_magic');
    expect(codeOf(() => verify(new Uint8Array(0)))).toBe('backup_truncated');
    const err = (() => {
      try {
        verify(new Uint8Array(0));
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err?.message).toMatch(/empty/);
  });

  it('refuses a newer backup format with a message naming both versions', async () => {
    const store = sampleStore();
    const image = store.image(meta(store.appliedIndex(), 1));
    const header = { ...backupHeaderOf(image.info, { clusterId: 'c', nodeId: 'n', createdAt: new Date(0), consistency: 'serializable' }), format: BACKUP_FORMAT + 1 };
    const bytes = await collect(encodeBackup(header, image.chunks));
    const v = new BackupVerifier();
    expect(() => v.push(bytes)).toThrow(BackupFormatError);
    try {
      new BackupVerifier().push(bytes);
    } catch (e) {
      expect((e as BackupFormatError).code).toBe('backup_newer_format');
      expect((e as Error).message).toContain(`format ${BACKUP_FORMAT + 1}`);
      expect((e as Error).message).toContain(`format ${BACKUP_FORMAT}`);
    }
  });

  it('refuses a header whose counts disagree with its image', async () => {
    const store = sampleStore();
    const image = store.image(meta(store.appliedIndex(), 1));
    const header = { ...backupHeaderOf(image.info, { clusterId: 'c', nodeId: 'n', createdAt: new Date(0), consistency: 'linearizable' }), revision: 999 };
    const bytes = await collect(encodeBackup(header, image.chunks));
    expect(codeOf(() => verify(bytes))).toBe('backup_corrupt');
  });

  it('backs up an empty store', async () => {
    const bytes = await backupBytes(new KvStore());
    const s = verify(bytes, 5);
    expect(s.header).toMatchObject({ revision: 0, keys: 0, records: 0, index: 0 });
  });
});
