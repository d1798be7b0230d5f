// Data shared by the storage tests (not a test file: Vitest only runs *.test.ts).
import type { SnapshotMeta } from '../../node/src/raft/types.js';

export const snapshotMeta = (index: number, term = 1): SnapshotMeta => ({
  index,
  term,
  membership: { members: [{ id: 'n1', incarnation: 'i1', role: 'voter', peerURL: 'http://127.0.0.1:1', clientURL: 'http://127.0.0.1:2' }] },
});

/** Deterministic pseudo-random bytes, different for every seed (xorshift32). */
export function snapshotBytes(size: number, seed: number): Uint8Array {
  let x = (seed * 2654435761) >>> 0 || 1;
  return new Uint8Array(size).map(() => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  });
}

/** `data` as an async stream of chunks whose sizes cycle through `sizes`. */
export async function* chunked(data: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(offset, offset + n);
    offset += n;
  }
}
