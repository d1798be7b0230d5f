// Keys: validation (design section 3, "Keys and values") and the byte order used for listing.
//
// Keys travel as JS strings (UTF-16) inside the node and as UTF-8 on the wire and in commands.
// A string with a lone surrogate has no UTF-8 form (TextEncoder would silently turn it into
// U+FFFD, so two different strings would become the same key): such strings are refused.
import { InvalidArgumentError, InvalidKeyError } from './errors.js';

/** Inclusive limit on a key's UTF-8 length. */
export const MAX_KEY_BYTES = 1024;

/** UTF-8 length of a well-formed string, without encoding it. */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair is one astral code point: 4 bytes for the two code units.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** True when every surrogate is part of a pair, i.e. the string has a UTF-8 form. */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff) return false;
    const next = s.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
    i++;
  }
  return true;
}

/**
 * Throws `InvalidKeyError` unless `key` is a valid key: `/a`, `a/` and `a//b` are refused.
 * Problems are reported in a fixed order (empty, over 1024 UTF-16 units, the first bad
 * character or segment from the left, then UTF-8 length) so a key always gets the same reason.
 */
export function validateKey(key: string): void {
  if (key.length === 0) throw new InvalidKeyError('empty', 'key must not be empty');
  if (key.length > MAX_KEY_BYTES) {
    // Every UTF-16 unit is at least one UTF-8 byte; no need to scan a huge string.
    throw new InvalidKeyError('too_long', `key is over ${MAX_KEY_BYTES} bytes of UTF-8`);
  }
  // One pass (this runs for every command applied): well-formedness, length, NUL, segments.
  let bytes = 0;
  let segmentStart = 0;
  for (let i = 0; i <= key.length; i++) {
    const c = i < key.length ? key.charCodeAt(i) : 0x2f; // the end closes the last segment
    if (c === 0x2f) {
      checkSegment(key, segmentStart, i);
      segmentStart = i + 1;
      if (i < key.length) bytes += 1;
      continue;
    }
    if (c < 0x80) {
      if (c === 0) throw new InvalidKeyError('nul', 'key must not contain NUL');
      bytes += 1;
    } else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else {
      const next = key.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        throw new InvalidKeyError(
          'invalid_utf8',
          'key contains a lone surrogate: it has no UTF-8 form',
        );
      }
      bytes += 4;
      i++;
    }
  }
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidKeyError(
      'too_long',
      `key is ${bytes} bytes of UTF-8; the limit is ${MAX_KEY_BYTES}`,
    );
  }
}

/** Leading or trailing '/' counts as an empty segment: one key has one spelling. */
function checkSegment(key: string, start: number, end: number): void {
  const length = end - start;
  if (length === 0) {
    const what =
      start === 0 ? "start with '/'" : end === key.length ? "end with '/'" : "contain '//'";
    throw new InvalidKeyError('empty_segment', `key must not ${what} (empty segment)`);
  }
  const dot = 0x2e;
  if (
    length <= 2 &&
    key.charCodeAt(start) === dot &&
    (length === 1 || key.charCodeAt(start + 1) === dot)
  ) {
    throw new InvalidKeyError(
      'dot_segment',
      `key must not contain a '${key.slice(start, end)}' segment (paths are not resolved)`,
    );
  }
}

export function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch (err) {
    if (err instanceof InvalidKeyError) return false;
    throw err;
  }
}

/**
 * A listing or watch prefix: any well-formed string up to the key limit, including '' (everything)
 * and strings that are not keys themselves (`acme/` selects the keys under `acme`).
 */
export function validatePrefix(prefix: string, field = 'prefix'): void {
  if (!isWellFormed(prefix)) {
    throw new InvalidArgumentError(field, `${field} contains a lone surrogate: it has no UTF-8 form`);
  }
  if (prefix.includes('\u0000')) throw new InvalidArgumentError(field, `${field} must not contain NUL`);
  const bytes = utf8ByteLength(prefix);
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(field, `${field} is ${bytes} bytes; the limit is ${MAX_KEY_BYTES}`);
  }
}

/**
 * Order of the keys' UTF-8 bytes, which is code point order. JS `<` compares UTF-16 code units,
 * which disagrees when one string has an astral character (surrogates 0xD800-0xDFFF) where the
 * other has a BMP character in 0xE000-0xFFFF: in UTF-8 the astral one is larger. Well-formed
 * strings only (validated keys): at the first differing unit both are then in the same role.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

function codeUnitRank(c: number): number {
  if (c < 0xd800) return c;
  // Move surrogates above the top of the BMP and the rest of the BMP down into their place.
  return c <= 0xdfff ? c + 0x2000 : c - 0x800;
}
