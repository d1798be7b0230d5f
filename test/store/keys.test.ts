import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidKeyError, StoreError } from '../../node/src/store/errors.js';
import {
  MAX_KEY_BYTES,
  compareKeys,
  isValidKey,
  isWellFormed,
  utf8ByteLength,
  validateKey,
  validatePrefix,
} from '../../node/src/store/keys.js';
import { enc, seededRng } from './helpers.js';

function reasonOf(key: string): string | null {
  try {
    validateKey(key);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as InvalidKeyError).code).toBe('invalid_key');
    return (err as InvalidKeyError).reason;
  }
}

describe('key validation (design §3 "Keys and values")', () => {
  it('accepts ordinary paths, unicode and dots inside segments', () => {
    for (const key of [
      'a',
      'acme/checkout/prod/database.yaml',
      'a.b/.hidden/c..d/...',
      'ключ/値/😀',
      '\uFEFFbom',
      'a b/c\td',
    ]) {
      expect(reasonOf(key), key).toBeNull();
    }
  });

  it('limits are inclusive: 1024 bytes accepted, 1025 refused, counted in UTF-8 bytes', () => {
    expect(MAX_KEY_BYTES).toBe(1024);
    const ascii1024 = 'k'.repeat(1024);
    const emoji1024 = '😀'.repeat(256); // 4 bytes each, 512 UTF-16 units
    const euro1024 = '€'.repeat(341) + 'a'; // 3 * 341 + 1
    for (const key of [ascii1024, emoji1024, euro1024]) {
      expect(enc(key).length).toBe(1024);
      expect(reasonOf(key)).toBeNull();
    }
    for (const key of [ascii1024 + 'k', emoji1024 + 'a', euro1024 + 'a', 'é'.repeat(512) + 'a']) {
      expect(enc(key).length).toBe(1025);
      expect(reasonOf(key)).toBe('too_long');
    }
    expect(reasonOf('k'.repeat(100_000))).toBe('too_long');
  });

  it('refuses each rule with a stable reason and a message that says why', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['', 'empty', /empty/],
      ['/a', 'empty_segment', /start with '\/'/],
      ['a/', 'empty_segment', /end with '\/'/],
      ['a//b', 'empty_segment', /'\/\/'/],
      ['/', 'empty_segment', /empty segment/],
      ['.', 'dot_segment', /'\.' segment/],
      ['..', 'dot_segment', /'\.\.' segment/],
      ['a/./b', 'dot_segment', /'\.'/],
      ['a/../b', 'dot_segment', /'\.\.'/],
      ['../a', 'dot_segment', /'\.\.'/],
      ['a/..', 'dot_segment', /'\.\.'/],
      ['a\u0000b', 'nul', /NUL/],
      ['\uD800', 'invalid_utf8', /lone surrogate/],
      ['a\uDC00b', 'invalid_utf8', /lone surrogate/],
      ['\uD83Dx', 'invalid_utf8', /lone surrogate/],
      ['x\uD83D', 'invalid_utf8', /lone surrogate/],
    ];
    for (const [key, reason, message] of cases) {
      let caught: unknown;
      try {
        validateKey(key);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(key)).toBeInstanceOf(InvalidKeyError);
      expect((caught as InvalidKeyError).reason, JSON.stringify(key)).toBe(reason);
      expect((caught as InvalidKeyError).message).toMatch(message);
      expect(isValidKey(key)).toBe(false);
    }
  });

  it('prefixes may be empty or end with a slash, but stay well-formed and bounded', () => {
    expect(() => validatePrefix('')).not.toThrow();
    expect(() => validatePrefix('acme/')).not.toThrow();
    expect(() => validatePrefix('\uD800')).toThrow(InvalidArgumentError);
    expect(() => validatePrefix('a\u0000')).toThrow(InvalidArgumentError);
    expect(() => validatePrefix('p'.repeat(1025))).toThrow(InvalidArgumentError);
  });

  it('utf8ByteLength and isWellFormed agree with TextEncoder and the spec', () => {
    const rng = seededRng(7);
    const units = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff];
    for (let n = 0; n < 500; n++) {
      let s = '';
      const len = rng.int(0, 12);
      for (let i = 0; i < len; i++) {
        s +=
          rng.next() < 0.3
            ? String.fromCodePoint(0x10000 + rng.int(0, 0x100000))
            : String.fromCharCode(units[rng.int(0, units.length)] as number);
      }
      expect(isWellFormed(s)).toBe(true);
      expect(utf8ByteLength(s)).toBe(enc(s).length);
    }
  });
});

describe('compareKeys: listing order is UTF-8 byte order, not UTF-16', () => {
  const byteOrder = (a: string, b: string): number => Math.sign(Buffer.compare(enc(a), enc(b)));

  it('puts an astral character after U+E000..U+FFFF, where JS string order disagrees', () => {
    const bmpHigh = '\uFFFD'; // EF BF BD
    const astral = '😀'; // F0 9F 98 80, UTF-16 D83D DE00
    expect(bmpHigh < astral).toBe(false); // what JS does
    expect(compareKeys(bmpHigh, astral)).toBeLessThan(0); // what the bytes say
    expect(compareKeys(astral, bmpHigh)).toBeGreaterThan(0);
    expect(compareKeys('a/\uE000', 'a/𝄞')).toBeLessThan(0);
    expect(compareKeys('a', 'a/')).toBeLessThan(0);
    expect(compareKeys('😀', '😀')).toBe(0);
  });

  it('matches Buffer.compare of the UTF-8 bytes on random strings', () => {
    const rng = seededRng(11);
    const alphabet = ['a', 'b', '/', 'é', '\u07ff', '\u0800', '\uD7FF', '\uE000', '\uFFFD', '\uFFFF', '𐀀', '😀', '\u{10FFFF}'];
    const gen = (): string => {
      let s = '';
      const n = rng.int(0, 6);
      for (let i = 0; i < n; i++) s += alphabet[rng.int(0, alphabet.length)];
      return s;
    };
    for (let i = 0; i < 3000; i++) {
      const a = gen();
      const b = rng.next() < 0.2 ? a + gen() : gen();
      expect(Math.sign(compareKeys(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(byteOrder(a, b));
    }
  });
});
