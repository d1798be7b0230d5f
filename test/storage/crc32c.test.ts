import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../node/src/storage/crc32c.js';

/** Bit-at-a-time CRC32C straight from the definition: the reference for the sliced tables. */
function referenceCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32c', () => {
  // RFC 3720 (iSCSI) appendix B.4 and the common "check" value of the Castagnoli polynomial.
  it.each([
    ['empty', new Uint8Array(0), 0x00000000],
    ['"123456789" (check value)', ascii('123456789'), 0xe3069283],
    ['32 zero bytes', new Uint8Array(32), 0x8a9136aa],
    ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 incrementing bytes', new Uint8Array(32).map((_, i) => i), 0x46dd794e],
    ['32 decrementing bytes', new Uint8Array(32).map((_, i) => 31 - i), 0x113fdb5c],
    ['"a"', ascii('a'), 0xc1d04330],
    ['"The quick brown fox jumps over the lazy dog"', ascii('The quick brown fox jumps over the lazy dog'), 0x22620404],
  ])('%s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
  });

  it('matches the bit-at-a-time definition for every length 0..300 and odd offsets', () => {
    const bytes = createHash('sha512').update('seed').digest();
    const data = new Uint8Array(320).map((_, i) => bytes[i % bytes.length]! ^ (i * 31));
    for (let len = 0; len <= 300; len++) {
      for (const offset of [0, 1, 3, 7]) {
        const slice = data.subarray(offset, offset + len);
        expect(crc32c(slice), `len ${len} offset ${offset}`).toBe(referenceCrc32c(slice));
      }
    }
  });

  it('continues over pieces: crc32c(b, crc32c(a)) === crc32c(a ++ b)', () => {
    const whole = new Uint8Array(1000).map((_, i) => (i * 13 + 5) & 0xff);
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
      expect(crc32c(whole.subarray(cut), crc32c(whole.subarray(0, cut)))).toBe(crc32c(whole));
    }
  });

  it('detects a single flipped bit anywhere', () => {
    const data = new Uint8Array(64).map((_, i) => i * 3);
    const good = crc32c(data);
    for (let bit = 0; bit < data.length * 8; bit++) {
      const copy = data.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      expect(crc32c(copy)).not.toBe(good);
    }
  });
});
