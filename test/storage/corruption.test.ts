// Damaged files: flipped bytes in the WAL's segments, in LevelDB's tables (.ldb) and write-ahead
// log (.log) (format 1), flipped and truncated snapshot files. The storage must refuse to start with an error that names the
// directory (and the index or file), or come up with exactly what was written; it must never
// return different data.
import { cp, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Entry, HardState } from '../../node/src/raft/types.js';
import { crc32c } from '../../node/src/storage/crc32c.js';
import { CorruptionError, DataDirError } from '../../node/src/storage/errors.js';
import { LevelLogStorage, WAL_DAMAGE_MARKER } from '../../node/src/storage/level-log-storage.js';
import { SnapshotStore } from '../../node/src/storage/snapshot-store.js';
import { readFrame } from '../../node/src/storage/wal-format.js';
import { WalLogStorage } from '../../node/src/storage/wal-log-storage.js';
import { comparable } from '../conformance/log-storage.case.js';
import { chunked, snapshotBytes, snapshotMeta } from './fixtures.js';

const BATCHES = 20;
const PER_BATCH = 10;
const LAST = BATCHES * PER_BATCH;

/** Payloads start with a marker the tests can find in LevelDB's files (compression is off). */
function payload(index: number): Uint8Array {
  const head = `ENTRY-${String(index).padStart(6, '0')}-`;
  const bytes = new Uint8Array(240);
  bytes.set(new TextEncoder().encode(head));
  for (let i = head.length; i < bytes.length; i++) bytes[i] = (index * 31 + i * 7) & 0xff;
  return bytes;
}

const written = (through: number): Entry[] =>
  Array.from({ length: through }, (_, i) => ({ index: i + 1, term: 1, kind: 'normal' as const, data: payload(i + 1) }));
const hardStateAfter = (batches: number): HardState => ({ term: 1, vote: 'n1', commit: batches * PER_BATCH });

type AnyLog = LevelLogStorage | WalLogStorage;
let openLog: (dir: string) => Promise<AnyLog> = (dir) => LevelLogStorage.open(dir);

async function buildLog(dir: string, compact: boolean): Promise<void> {
  const log = await openLog(dir);
  for (let b = 0; b < BATCHES; b++) {
    const entries = written((b + 1) * PER_BATCH).slice(b * PER_BATCH);
    await log.write({ hardState: hardStateAfter(b + 1), entries });
  }
  await log.close();
  if (compact) {
    // Opening replays the write-ahead log into a table file (.ldb).
    await (await openLog(dir)).close();
  }
}

async function filesEnding(dir: string, ext: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith(ext)).map((f) => join(dir, f));
}

/** Flips one bit at the first occurrence of the marker of `index` (+ `shift`) in any file with `ext`. */
async function flipPayload(dir: string, ext: string, index: number, shift: number): Promise<string> {
  const needle = Buffer.from(`ENTRY-${String(index).padStart(6, '0')}-`);
  for (const file of await filesEnding(dir, ext)) {
    const bytes = await readFile(file);
    const at = bytes.indexOf(needle);
    if (at >= 0) {
      bytes[at + shift]! ^= 0x10;
      await writeFile(file, bytes);
      return file;
    }
  }
  throw new Error(`payload of entry ${index} not found in any ${ext} file of ${dir}`);
}

async function openError(dir: string): Promise<unknown> {
  try {
    const log = await openLog(dir);
    await log.close();
  } catch (err) {
    return err;
  }
  return null;
}

/** Opens and reads everything; returns how many batches the state shows, checking every byte. */
async function readIntact(dir: string): Promise<number> {
  const log = await openLog(dir);
  try {
    const { hardState, entries } = await log.load();
    const batches = hardState.commit / PER_BATCH;
    expect(hardState).toEqual(hardStateAfter(batches));
    expect(comparable(entries)).toEqual(comparable(written(batches * PER_BATCH)));
    return batches;
  } finally {
    await log.close();
  }
}

function expectCorruption(err: unknown, dir: string, label?: string): CorruptionError {
  expect(err, label === undefined ? undefined : `${label}: ${String(err)}`).toBeInstanceOf(CorruptionError);
  expect((err as Error).message, label).toContain(dir);
  return err as CorruptionError;
}

/** Flips one random bit of `file`; returns its contents before the flip, the byte, and a label naming it. */
async function flipRandomBit(rng: ReturnType<typeof seededRng>, file: string, trial: number): Promise<{ before: Buffer; at: number; label: string }> {
  const bytes = await readFile(file);
  const before = Buffer.from(bytes);
  const at = rng.int(0, bytes.length);
  bytes[at]! ^= 1 << rng.int(0, 8);
  await writeFile(file, bytes);
  return { before, at, label: `trial ${trial}: bit flipped at byte ${at} of ${file}` };
}

/** Entry 57's payload is damaged in `ext` files while `log` is open: reads refuse it, not serve it. */
async function expectDamageAfterOpenRefused(log: AnyLog, dir: string, ext: string): Promise<void> {
  try {
    expect((await log.entries(57, 58))[0]!.data).toEqual(payload(57));
    await flipPayload(dir, ext, 57, 30);
    const err = expectCorruption(await log.entries(50, 60).catch((e: unknown) => e), dir);
    expect(err.index).toBe(57);
    await expect(log.load()).rejects.toBeInstanceOf(CorruptionError);
    // Entries before the damage are still served.
    expect(comparable(await log.entries(1, 57))).toEqual(comparable(written(56)));
  } finally {
    await log.close();
  }
}

/** Where the last frame of a WAL segment starts. */
function lastFrameStart(segment: Uint8Array): number {
  let at = 0;
  for (;;) {
    const frame = readFrame(segment, at);
    if (!frame.ok) throw new Error(`pristine segment is damaged at ${at}`);
    if (frame.end >= segment.byteLength) return at;
    at = frame.end;
  }
}

describe('corruption of the write-ahead log', () => {
  let root: string;
  let pristine: string;
  const walOpen = (dir: string): Promise<WalLogStorage> => WalLogStorage.open(dir, { segmentBytes: 8192 });

  beforeAll(async () => {
    openLog = walOpen;
    root = await mkdtemp(join(tmpdir(), 'conflux-corrupt-wal-'));
    pristine = join(root, 'pristine');
    await buildLog(pristine, false);
    expect((await filesEnding(pristine, '.wal')).length).toBeGreaterThan(2);
  });

  afterAll(async () => {
    openLog = (dir) => LevelLogStorage.open(dir);
    await rm(root, { recursive: true, force: true });
  });

  let copies = 0;
  async function copyOf(): Promise<string> {
    const dir = join(root, `copy-${copies++}`);
    await cp(pristine, dir, { recursive: true });
    return dir;
  }

  it('the undamaged copy opens with everything', async () => {
    expect(await readIntact(await copyOf())).toBe(BATCHES);
  });

  it('a flipped payload byte in an older frame: refuses to open, naming the directory and the file', async () => {
    const dir = await copyOf();
    const file = await flipPayload(dir, '.wal', 100, 20);
    const err = expectCorruption(await openError(dir), dir);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/checksum/);
  });

  it('a payload damaged after open is refused on read, not served', async () => {
    const dir = await copyOf();
    await expectDamageAfterOpenRefused(await walOpen(dir), dir, '.wal');
  });

  it('random bit flips anywhere in the segments: a clear refusal, exactly the data written, or a torn last frame cut', async () => {
    const rng = seededRng(Number(process.env.STORAGE_SEED ?? 7));
    const outcomes = { refused: 0, intact: 0, lastFrameCut: 0 };
    for (let trial = 0; trial < 40; trial++) {
      const dir = await copyOf();
      const files = (await filesEnding(dir, '.wal')).sort();
      const k = rng.int(0, files.length);
      const file = files[k]!;
      const { before, at, label } = await flipRandomBit(rng, file, trial);
      const tornFrom = k === files.length - 1 ? lastFrameStart(before) : Infinity;
      const err = await openError(dir);
      if (err !== null) {
        expectCorruption(err, dir, label);
        outcomes.refused++;
      } else {
        // A damaged last frame looks like a write cut short by a crash (it is the only place one
        // can be) and is dropped; anywhere else, every byte must be what was written.
        const batches = await readIntact(dir);
        if (batches === BATCHES) outcomes.intact++;
        else {
          expect(at, `${label}: lost data outside the last frame`).toBeGreaterThanOrEqual(tornFrom);
          expect(batches, label).toBe(BATCHES - 1);
          outcomes.lastFrameCut++;
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
    console.log(`random WAL flips: ${outcomes.refused} refused, ${outcomes.intact} intact, ${outcomes.lastFrameCut} last frame cut`);
    expect(outcomes.refused).toBeGreaterThan(10);
  });
});

describe('corruption of the LevelDB log', () => {
  let root: string;
  let pristineLog: string;
  let pristineTables: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-corrupt-'));
    pristineLog = join(root, 'pristine-log');
    pristineTables = join(root, 'pristine-tables');
    await buildLog(pristineLog, false);
    await buildLog(pristineTables, true);
    expect(await filesEnding(pristineTables, '.ldb')).not.toHaveLength(0);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  let copies = 0;
  async function copyOf(source: string): Promise<string> {
    const dir = join(root, `copy-${copies++}`);
    await cp(source, dir, { recursive: true });
    return dir;
  }

  it('the undamaged copies open with everything', async () => {
    expect(await readIntact(await copyOf(pristineLog))).toBe(BATCHES);
    expect(await readIntact(await copyOf(pristineTables))).toBe(BATCHES);
  });

  it('a flipped payload byte in a table file: refuses to open, naming the directory and the index', async () => {
    const dir = await copyOf(pristineTables);
    await flipPayload(dir, '.ldb', 100, 20);
    const err = expectCorruption(await openError(dir), dir);
    expect(err.index).toBe(100);
    expect(err.message).toContain('log index 100');
  });

  it('a payload damaged after open is refused on read, not served', async () => {
    const dir = await copyOf(pristineTables);
    await expectDamageAfterOpenRefused(await LevelLogStorage.open(dir), dir, '.ldb');
  });

  it('a flipped byte in the middle of the write-ahead log: refuses to open, and keeps refusing', async () => {
    const dir = await copyOf(pristineLog);
    await flipPayload(dir, '.log', 100, 20);
    expectCorruption(await openError(dir), dir);
    // LevelDB has rewritten its log by now; the refusal must not depend on it.
    expectCorruption(await openError(dir), dir);
    // An operator who accepts the loss removes the marker: the hole left behind is still caught.
    await rm(join(dir, WAL_DAMAGE_MARKER));
    const err = expectCorruption(await openError(dir), dir);
    expect(err.message).toMatch(/missing/);
  });

  it('a flipped byte in the last write-ahead-log record: refuses; once accepted, only the intact prefix is served', async () => {
    const dir = await copyOf(pristineLog);
    await flipPayload(dir, '.log', LAST, 20);
    const err = expectCorruption(await openError(dir), dir);
    expect(err.message).toContain(WAL_DAMAGE_MARKER);
    await rm(join(dir, WAL_DAMAGE_MARKER));
    expect(await readIntact(dir)).toBe(BATCHES - 1);
  });

  it('random bit flips anywhere in .ldb and .log files: a clear refusal or exactly the data written', async () => {
    const rng = seededRng(Number(process.env.STORAGE_SEED ?? 7));
    const outcomes = { refused: 0, intact: 0 };
    for (let trial = 0; trial < 40; trial++) {
      const tables = trial % 2 === 0;
      const dir = await copyOf(tables ? pristineTables : pristineLog);
      const files = await filesEnding(dir, tables ? '.ldb' : '.log');
      const file = files[rng.int(0, files.length)]!;
      const { label } = await flipRandomBit(rng, file, trial);
      const err = await openError(dir);
      if (err !== null) {
        expectCorruption(err, dir, label);
        outcomes.refused++;
      } else {
        // Opened: then every byte must be what was written, all of it (no silent loss either).
        expect(await readIntact(dir), label).toBe(BATCHES);
        outcomes.intact++;
      }
      await rm(dir, { recursive: true, force: true });
    }
    console.log(`random flips: ${outcomes.refused} refused, ${outcomes.intact} opened intact`);
    expect(outcomes.refused).toBeGreaterThan(10);
  });
});

describe('corruption of snapshot files', () => {
  let root: string;
  let dir: string;
  let file: string;
  const data = snapshotBytes(50_000, 5);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-snapcorrupt-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function fresh(): Promise<void> {
    dir = join(root, `s-${Math.random().toString(36).slice(2)}`);
    const store = await SnapshotStore.open(dir);
    file = (await store.save(snapshotMeta(42, 3), chunked(data, [4096]))).file;
    await store.close();
  }

  async function damage(change: (bytes: Buffer) => Buffer): Promise<void> {
    await writeFile(file, change(await readFile(file)));
  }

  it('a flipped data byte fails the checksum at open, naming the file; nothing is deleted', async () => {
    await fresh();
    await damage((b) => ((b[12_345]! ^= 0x01), b));
    const err = await SnapshotStore.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain('snapshot-00000000000000000042-3.snap');
    expect(await readdir(dir)).toEqual(['snapshot-00000000000000000042-3.snap']);
  });

  it('without the full check at open, a reader from offset 0 fails at the end instead of completing', async () => {
    await fresh();
    await damage((b) => ((b[49_999]! ^= 0x80), b));
    const store = await SnapshotStore.open(dir, { verify: false });
    const reader = await store.openReader();
    let bytes = 0;
    const read = (async (): Promise<void> => {
      for await (const chunk of reader.chunks(0, 10_000)) bytes += chunk.length;
    })();
    await expect(read).rejects.toBeInstanceOf(CorruptionError);
    expect(bytes).toBeLessThan(data.length);
    await reader.close();
    await store.close();
  });

  it.each([
    ['a flipped trailer byte', (b: Buffer): Buffer => ((b[b.length - 30]! ^= 0x04), b)],
    ['a flipped magic byte', (b: Buffer): Buffer => ((b[b.length - 1]! ^= 0x04), b)],
    ['a file cut by one byte', (b: Buffer): Buffer => b.subarray(0, b.length - 1)],
    ['a file cut in half', (b: Buffer): Buffer => b.subarray(0, b.length >> 1)],
    ['garbage appended', (b: Buffer): Buffer => Buffer.concat([b, Buffer.from('garbage')])],
  ])('%s is refused at open', async (_name, change) => {
    await fresh();
    await damage(change);
    await expect(SnapshotStore.open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('an empty file is refused at open', async () => {
    await fresh();
    await truncate(file, 0);
    await expect(SnapshotStore.open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('a snapshot written by a newer format is refused with a clear message', async () => {
    await fresh();
    await damage((b) => {
      const fixed = 16;
      const jsonLength = b.readUInt32BE(b.length - fixed);
      const jsonStart = b.length - fixed - jsonLength;
      const trailer = JSON.parse(b.subarray(jsonStart, b.length - fixed).toString()) as { formatVersion: number };
      trailer.formatVersion = 2;
      const json = Buffer.from(JSON.stringify(trailer));
      const tail = Buffer.alloc(fixed);
      tail.writeUInt32BE(json.length, 0);
      tail.writeUInt32BE(crc32c(json), 4);
      b.copy(tail, 8, b.length - 8);
      return Buffer.concat([b.subarray(0, jsonStart), json, tail]);
    });
    const err = await SnapshotStore.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirError);
    expect((err as Error).message).toMatch(/newer/);
  });
});
