// An ordered set of keys in UTF-8 byte order: a list of sorted blocks (a one-level B-tree).
// Insert and delete cost O(log n + BLOCK_MAX) instead of the O(n) memmove of one flat sorted
// array, which matters when keys arrive in random order; iteration is a walk over the blocks.
//
// Blocks hold *sort keys*, not keys: strings whose UTF-16 order (native `<`, several times faster
// than a code-unit loop, and this is the hot path of every create) equals the keys' UTF-8 byte
// order. For a key without code units >= 0xD800 (nearly all) the sort key is the key itself.
//
// Invariant: blocks are non-empty, each sorted, and every sort key of block i is below every sort
// key of block i+1.

const BLOCK_MAX = 512;

/** A position: block index and index within the block. */
interface Cursor {
  block: number;
  index: number;
}

export class SortedKeySet {
  private blocks: string[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `key`; false if it was already present. */
  insert(original: string): boolean {
    const key = toSortKey(original);
    if (this.blocks.length === 0) {
      this.blocks.push([key]);
      this.count = 1;
      return true;
    }
    // Past the last key, the key goes to the end of the last block. Checked first because
    // restores and sequentially named keys append in order.
    const lastBlock = this.blocks[this.blocks.length - 1] as string[];
    const b =
      (lastBlock[lastBlock.length - 1] as string) < key
        ? this.blocks.length - 1
        : Math.min(this.blockFor(key), this.blocks.length - 1);
    const block = this.blocks[b] as string[];
    const i = lowerBound(block, key);
    if (i < block.length && block[i] === key) return false;
    block.splice(i, 0, key);
    this.count++;
    if (block.length > BLOCK_MAX) {
      const upper = block.splice(block.length >>> 1);
      this.blocks.splice(b + 1, 0, upper);
    }
    return true;
  }

  /** Removes `key`; false if it was absent. */
  delete(original: string): boolean {
    const key = toSortKey(original);
    const b = this.blockFor(key);
    if (b >= this.blocks.length) return false;
    const block = this.blocks[b] as string[];
    const i = lowerBound(block, key);
    if (i >= block.length || block[i] !== key) return false;
    block.splice(i, 1);
    this.count--;
    if (block.length === 0) this.blocks.splice(b, 1);
    return true;
  }

  has(original: string): boolean {
    const key = toSortKey(original);
    const b = this.blockFor(key);
    if (b >= this.blocks.length) return false;
    const block = this.blocks[b] as string[];
    const i = lowerBound(block, key);
    return i < block.length && block[i] === key;
  }

  /**
   * Keys in order starting at `from` (inclusive, or exclusive when `exclusive`), or from the
   * first key. The set must not change while the iterator is in use.
   */
  *from(from?: string, exclusive = false): IterableIterator<string> {
    const start = from === undefined ? { block: 0, index: 0 } : this.seek(toSortKey(from), exclusive);
    for (let b = start.block; b < this.blocks.length; b++) {
      const block = this.blocks[b] as string[];
      for (let i = b === start.block ? start.index : 0; i < block.length; i++) {
        yield fromSortKey(block[i] as string);
      }
    }
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.from();
  }

  /** Index of the first block whose last key is >= key; blocks.length if none. */
  private blockFor(key: string): number {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = this.blocks[mid] as string[];
      if ((block[block.length - 1] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private seek(key: string, exclusive: boolean): Cursor {
    const b = this.blockFor(key);
    if (b >= this.blocks.length) return { block: b, index: 0 };
    const block = this.blocks[b] as string[];
    let i = lowerBound(block, key);
    if (exclusive && i < block.length && block[i] === key) i++;
    return { block: b, index: i };
  }
}

function lowerBound(block: string[], key: string): number {
  let lo = 0;
  let hi = block.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((block[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Remaps code units so that UTF-16 order becomes code point (= UTF-8 byte) order: surrogates
 * move above the rest of the BMP, 0xE000-0xFFFF moves down into their place (see `compareKeys`).
 * A bijection, and the identity on strings without units >= 0xD800.
 */
export function toSortKey(key: string): string {
  let i = 0;
  while (i < key.length && key.charCodeAt(i) < 0xd800) i++;
  if (i === key.length) return key;
  let out = key.slice(0, i);
  for (; i < key.length; i++) {
    const c = key.charCodeAt(i);
    out += String.fromCharCode(c < 0xd800 ? c : c <= 0xdfff ? c + 0x2000 : c - 0x800);
  }
  return out;
}

export function fromSortKey(sortKey: string): string {
  let i = 0;
  while (i < sortKey.length && sortKey.charCodeAt(i) < 0xd800) i++;
  if (i === sortKey.length) return sortKey;
  let out = sortKey.slice(0, i);
  for (; i < sortKey.length; i++) {
    const c = sortKey.charCodeAt(i);
    out += String.fromCharCode(c < 0xd800 ? c : c >= 0xf800 ? c - 0x2000 : c + 0x800);
  }
  return out;
}
