// Keys and unique values shared by both systems. Each written value is `size` bytes: a 12-byte
// unique prefix (base 36 of a global counter) and a fixed filler. 12 is a multiple of 3, so the
// base64 of a value is base64(prefix) + base64(filler): etcd's JSON body costs the generator no
// more than Conflux's raw body, and no two writes carry the same value.

export const KEY_COUNT = 1000;
export const PREFIX_BYTES = 12;

export function keyName(prefix: string, i: number): string {
  return `${prefix}k${String(i).padStart(6, '0')}`;
}

let counter = Math.floor(Math.random() * 36 ** 8);

/** The next unique 12-character prefix (ASCII). */
export function nextUnique(): string {
  counter++;
  return counter.toString(36).padStart(PREFIX_BYTES, '0');
}

export class ValueMaker {
  readonly filler: Buffer;
  readonly fillerBase64: string;
  constructor(readonly size: number) {
    if (size < PREFIX_BYTES) throw new Error(`values of at least ${PREFIX_BYTES} bytes`);
    this.filler = Buffer.alloc(size - PREFIX_BYTES);
    for (let i = 0; i < this.filler.length; i++) this.filler[i] = 0x21 + ((i * 31 + 7) % 94);
    this.fillerBase64 = this.filler.toString('base64');
  }

  /** A fresh value as raw bytes. */
  bytes(unique: string): Buffer {
    const b = Buffer.allocUnsafe(this.size);
    b.write(unique, 0, PREFIX_BYTES, 'latin1');
    this.filler.copy(b, PREFIX_BYTES);
    return b;
  }

  /** The same value's base64. */
  base64(unique: string): string {
    return Buffer.from(unique, 'latin1').toString('base64') + this.fillerBase64;
  }
}

/** The key just after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
