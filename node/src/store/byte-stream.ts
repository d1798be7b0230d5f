// Exact-length reads over an async chunk source, whatever the chunk boundaries.
import { SnapshotCorruptError } from './errors.js';

/**
 * Exact-length reads over an async chunk source. Chunks are kept by reference until consumed: the
 * producer must not reuse a chunk's buffer after yielding it.
 */
export class ByteStream {
  private readonly it: AsyncIterator<Uint8Array>;
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  private buffered = 0;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<void> {
    const r = await this.it.next();
    if (r.done === true) {
      this.done = true;
      return;
    }
    if (!(r.value instanceof Uint8Array)) throw new SnapshotCorruptError('snapshot stream yielded a chunk that is not a Uint8Array');
    if (r.value.length > 0) {
      this.chunks.push(r.value);
      this.buffered += r.value.length;
    }
  }

  /** `n` bytes, or null at a clean end of stream; throws when it ends inside the `n` bytes. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.buffered < n) {
      if (this.done) {
        if (this.buffered === 0) return null;
        throw new SnapshotCorruptError('snapshot image is corrupt: truncated: stream ended inside a frame');
      }
      await this.pull();
    }
    const first = this.chunks[0] as Uint8Array;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0] as Uint8Array;
      const take = Math.min(c.length - this.head, n - off);
      out.set(c.subarray(this.head, this.head + take), off);
      off += take;
      this.advance(take);
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.buffered -= n;
    if (this.head === (this.chunks[0] as Uint8Array).length) {
      this.chunks.shift();
      this.head = 0;
    }
  }

  async atEnd(): Promise<boolean> {
    while (this.buffered === 0 && !this.done) await this.pull();
    return this.buffered === 0;
  }

  /** Lets the source release its resources when we stop early. */
  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.it.return?.();
    } catch {
      // The source failing to close does not change why we stopped.
    }
  }
}
