// The in-memory twin of the durable logs, for the simulator and unit tests. Every mutation is
// applied synchronously when it is called, so it is "durable" the moment it is accepted: a
// simulated crash is simply `reopen()`, which keeps everything and drops nothing.
import type { Entry, SnapshotMeta } from '../raft/types.js';
import { ClosedError } from './errors.js';
import { checkRange, firstIndexOf, initialMeta, planInstall, planPurge, planWrite, termOf } from './log-meta.js';
import type { LogMeta, MutationPlan } from './log-meta.js';
import { entryBytes } from './log-storage.js';
import type { LogState, LogStorage, LogWrite } from './log-storage.js';

/** What survives a simulated restart: shared by a storage and the ones `reopen()` returns. */
interface MemoryDisk {
  meta: LogMeta;
  /** entries[i] has index firstIndex + i. */
  entries: Entry[];
}

export class MemoryLogStorage implements LogStorage {
  private closed = false;

  private constructor(private readonly disk: MemoryDisk) {}

  static create(): MemoryLogStorage {
    return new MemoryLogStorage({ meta: initialMeta(), entries: [] });
  }

  /** Closes this handle and returns a new one over the same contents, as after a restart. */
  reopen(): MemoryLogStorage {
    this.closed = true;
    return new MemoryLogStorage(this.disk);
  }

  async load(): Promise<LogState> {
    this.checkOpen();
    const { meta } = this.disk;
    const from = (meta.snapshot?.index ?? 0) + 1;
    return {
      hardState: { ...meta.hardState },
      snapshot: meta.snapshot === null ? null : structuredClone(meta.snapshot),
      entries: this.slice(from, meta.lastIndex + 1, Infinity),
    };
  }

  firstIndex(): number {
    return firstIndexOf(this.disk.meta);
  }

  lastIndex(): number {
    return this.disk.meta.lastIndex;
  }

  async entries(lo: number, hiExclusive: number, maxBytes = Infinity): Promise<Entry[]> {
    this.checkOpen();
    checkRange(this.disk.meta, lo, hiExclusive);
    return this.slice(lo, hiExclusive, maxBytes);
  }

  async term(index: number): Promise<number> {
    this.checkOpen();
    return termOf(this.disk.meta, index);
  }

  async write(batch: LogWrite): Promise<void> {
    this.checkOpen();
    const plan = planWrite(this.disk.meta, batch);
    this.apply(plan, batch.entries);
  }

  async purge(throughIndex: number, snapshot: SnapshotMeta): Promise<void> {
    this.checkOpen();
    this.apply(planPurge(this.disk.meta, throughIndex, snapshot), []);
  }

  async installSnapshot(snapshot: SnapshotMeta): Promise<void> {
    this.checkOpen();
    this.apply(planInstall(this.disk.meta, snapshot), []);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private apply(plan: MutationPlan, added: Entry[]): void {
    const disk = this.disk;
    const first = firstIndexOf(disk.meta);
    if (plan.remove !== null) {
      const { from, through } = plan.remove;
      disk.entries.splice(from - first, through - from + 1);
    }
    for (const entry of added) disk.entries.push(copyEntry(entry));
    disk.meta = plan.meta;
  }

  private slice(lo: number, hiExclusive: number, maxBytes: number): Entry[] {
    const first = firstIndexOf(this.disk.meta);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hiExclusive; index++) {
      const entry = this.disk.entries[index - first]!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(copyEntry(entry));
    }
    return out;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('memory log storage');
  }
}

function copyEntry(entry: Entry): Entry {
  return { index: entry.index, term: entry.term, kind: entry.kind, data: entry.data.slice() };
}
