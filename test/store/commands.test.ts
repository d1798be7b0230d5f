import { describe, expect, it } from 'vitest';
import {
  MAX_CONTENT_TYPE_BYTES,
  decodeCommand,
  encodeCommand,
  type Command,
} from '../../node/src/store/commands.js';
import { InvalidCommandError, InvalidKeyError } from '../../node/src/store/errors.js';
import { enc, randomBytes, randomKey, seededRng, type Rng } from './helpers.js';

/** The decoder's canonical form: unset options are absent, ifNoneMatch only when true. */
function canonical(cmd: Command): Command {
  const out: Record<string, unknown> = { ...cmd };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  if (out.ifNoneMatch === false) delete out.ifNoneMatch;
  return out as unknown as Command;
}

function randomRevision(rng: Rng): number {
  const r = rng.next();
  if (r < 0.1) return 1;
  if (r < 0.2) return Number.MAX_SAFE_INTEGER;
  if (r < 0.3) return 2 ** 32 + rng.int(0, 1000); // crosses the u32 halves
  return 1 + rng.int(0, 1_000_000);
}

function randomContentType(rng: Rng): string {
  const pool = ['text/plain', 'application/json; charset=utf-8', 'a', 'x/y\tz ~!'];
  return rng.next() < 0.9 ? (pool[rng.int(0, pool.length)] as string) : 'c'.repeat(MAX_CONTENT_TYPE_BYTES);
}

function randomCommand(rng: Rng): Command {
  const key = rng.next() < 0.05 ? '😀'.repeat(256) : randomKey(rng);
  switch (rng.int(0, 4)) {
    case 0: {
      const cmd: Command = { type: 'put', key, value: randomBytes(rng, 64), contentType: randomContentType(rng) };
      if (rng.next() < 0.5) cmd.ifMatchModRevision = randomRevision(rng);
      if (rng.next() < 0.5) cmd.ifNoneMatch = rng.next() < 0.5;
      return cmd;
    }
    case 1:
      return rng.next() < 0.5 ? { type: 'delete', key } : { type: 'delete', key, ifMatchModRevision: randomRevision(rng) };
    case 2: {
      const cmd: Command = { type: 'rollback', key, toRevision: randomRevision(rng) };
      if (rng.next() < 0.5) cmd.ifMatchModRevision = randomRevision(rng);
      return cmd;
    }
    default:
      return { type: 'compact', revision: randomRevision(rng) };
  }
}

/** Fast structural comparison: the matcher's deep equality is slow on byte arrays. */
function show(cmd: Command): string {
  return JSON.stringify(cmd.type === 'put' ? { ...cmd, value: Buffer.from(cmd.value).toString('hex') } : cmd);
}

function expectSameBytes(a: Uint8Array, b: Uint8Array): void {
  if (Buffer.compare(a, b) !== 0) expect(Buffer.from(a).toString('hex')).toBe(Buffer.from(b).toString('hex'));
}

function decodeError(bytes: Uint8Array): InvalidCommandError {
  try {
    decodeCommand(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidCommandError);
    expect((err as InvalidCommandError).code).toBe('invalid_command');
    return err as InvalidCommandError;
  }
  throw new Error(`decoded ${Buffer.from(bytes).toString('hex')} without error`);
}

describe('command codec: round trip', () => {
  it('round-trips each command type exactly', () => {
    const cmds: Command[] = [
      { type: 'put', key: 'a', value: new Uint8Array(0), contentType: 'text/plain' },
      { type: 'put', key: 'a/b', value: Uint8Array.of(0, 255, 10), contentType: 'application/octet-stream', ifMatchModRevision: 7 },
      { type: 'put', key: '\uFEFFbom/😀', value: enc('v'), contentType: 'x/y', ifNoneMatch: true },
      { type: 'delete', key: 'k' },
      { type: 'delete', key: 'k', ifMatchModRevision: Number.MAX_SAFE_INTEGER },
      { type: 'rollback', key: 'k', toRevision: 3 },
      { type: 'rollback', key: 'k', toRevision: 3, ifMatchModRevision: 2 ** 32 },
      { type: 'compact', revision: 1 },
    ];
    for (const cmd of cmds) expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });

  it('puts the value as raw bytes (no JSON, no base64): 1 MiB costs 1 MiB + a small header', () => {
    const value = new Uint8Array(1024 * 1024).map((_, i) => i * 31);
    const bytes = encodeCommand({ type: 'put', key: 'big', value, contentType: 'application/octet-stream' });
    expect(bytes.length - value.length).toBeLessThan(64);
    const back = decodeCommand(bytes);
    expect(back.type === 'put' && Buffer.compare(back.value, value)).toBe(0);
  });

  it('property: 3000 seeded random commands decode to their canonical form and re-encode to the same bytes', () => {
    const rng = seededRng(1234);
    for (let i = 0; i < 3000; i++) {
      const cmd = randomCommand(rng);
      const bytes = encodeCommand(cmd);
      const back = decodeCommand(bytes);
      expect(show(back)).toBe(show(canonical(cmd)));
      expectSameBytes(encodeCommand(back), bytes);
    }
  });

  it('the decoded value is a copy: later changes to the entry bytes do not reach the store', () => {
    const bytes = encodeCommand({ type: 'put', key: 'k', value: enc('abc'), contentType: 'text/plain' });
    const cmd = decodeCommand(bytes);
    bytes.fill(0);
    expect(cmd.type === 'put' && new TextDecoder().decode(cmd.value)).toBe('abc');
  });

  it('decodes from a pooled Node Buffer at an offset, and still copies the value', () => {
    const bytes = encodeCommand({ type: 'put', key: 'k', value: enc('abc'), contentType: 'text/plain' });
    const pooled = Buffer.from(bytes); // small Buffers share an 8 KiB pool: byteOffset > 0 likely
    const padded = Buffer.concat([Buffer.from('xyz'), pooled]).subarray(3);
    for (const input of [pooled, padded]) {
      const cmd = decodeCommand(input);
      input.fill(0);
      expect(cmd.type === 'put' && Buffer.isBuffer(cmd.value)).toBe(false);
      expect(cmd.type === 'put' && new TextDecoder().decode(cmd.value)).toBe('abc');
    }
  });
});

describe('command codec: the encoder refuses what could never apply', () => {
  it('refuses bad keys with InvalidKeyError', () => {
    for (const key of ['', 'a//b', '../x', 'k'.repeat(1025), '\uD800']) {
      expect(() => encodeCommand({ type: 'delete', key })).toThrow(InvalidKeyError);
    }
    expect(() => encodeCommand({ type: 'delete', key: 'k'.repeat(1024) })).not.toThrow();
  });

  it('refuses bad content types, revisions and values with InvalidCommandError', () => {
    const put = (contentType: string): Command => ({ type: 'put', key: 'k', value: new Uint8Array(0), contentType });
    for (const ct of ['', 'é', 'a\nb', 'c'.repeat(MAX_CONTENT_TYPE_BYTES + 1)]) {
      expect(() => encodeCommand(put(ct)), JSON.stringify(ct)).toThrow(InvalidCommandError);
    }
    expect(() => encodeCommand(put('c'.repeat(MAX_CONTENT_TYPE_BYTES)))).not.toThrow();
    for (const n of [0, -1, 1.5, Number.NaN, 2 ** 53, Infinity]) {
      expect(() => encodeCommand({ type: 'compact', revision: n })).toThrow(InvalidCommandError);
      expect(() => encodeCommand({ type: 'rollback', key: 'k', toRevision: n })).toThrow(InvalidCommandError);
      expect(() => encodeCommand({ type: 'delete', key: 'k', ifMatchModRevision: n })).toThrow(InvalidCommandError);
    }
    expect(() =>
      encodeCommand({ type: 'put', key: 'k', value: 'text' as unknown as Uint8Array, contentType: 'a' }),
    ).toThrow(InvalidCommandError);
    expect(() => encodeCommand({ type: 'nope' } as unknown as Command)).toThrow(InvalidCommandError);
  });
});

describe('command codec: the decoder is strict', () => {
  const del = encodeCommand({ type: 'delete', key: 'abc', ifMatchModRevision: 5 });
  const put = encodeCommand({ type: 'put', key: 'abc', value: enc('v'), contentType: 'text/plain', ifMatchModRevision: 5 });

  const patched = (base: Uint8Array, at: number, ...bytes: number[]): Uint8Array => {
    const out = base.slice();
    out.set(bytes, at);
    return out;
  };
  // put header: fmt op flags | u16 keyLen=3 | "abc" | u16 ctLen=10 | "text/plain" | u64 ifMatch | value
  const putValueStart = 3 + 2 + 3 + 2 + 10 + 8;

  it('rejects each kind of malformed header or field with a message', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array(0), /truncated/],
      [patched(del, 0, 2), /format 2/],
      [patched(del, 1, 9), /unknown command op 9/],
      [patched(del, 2, 0b11), /unknown flags/], // If-None-Match on a delete
      [patched(put, 2, 0b111), /unknown flags/],
      [encodeCommand({ type: 'compact', revision: 1 }).map((b, i) => (i === 2 ? 1 : b)), /unknown flags/],
      [Uint8Array.of(...del, 0), /trailing/],
      [patched(del, 3, 0, 0), /key length 0/],
      [patched(del, 3, 0x04, 0x01), /key length 1025/],
      [patched(del, 5, 0xff), /UTF-8/],
      [patched(del, 5, 0xc0, 0xaf), /UTF-8/], // overlong '/'
      [patched(del, 5, 0xed, 0xa0, 0x80), /UTF-8/], // an encoded lone surrogate
      [patched(del, 5, 0x2f), /invalid key: .*start with/],
      [patched(del, 5, 0x61, 0x00), /invalid key: .*NUL/],
      [patched(del, 8, 0, 0, 0, 0, 0, 0, 0, 0), /must be positive/],
      [patched(del, 8, 0, 0x20, 0, 0, 0, 0, 0, 0), /2\^53/],
      [patched(put, 8, 0, 0), /content type length 0/],
      [patched(put, 8, 0x01, 0x01), /content type length 257/],
      [patched(put, 10, 0x80), /content type/],
    ];
    for (const [bytes, message] of cases) {
      expect(decodeError(bytes).message, Buffer.from(bytes).toString('hex')).toMatch(message);
    }
  });

  it('wraps key errors with their cause', () => {
    const err = decodeError(patched(del, 5, 0x2e, 0x2e, 0x2f));
    expect(err.cause).toBeInstanceOf(InvalidKeyError);
  });

  it('rejects every truncation of a fixed-size command and of a put header', () => {
    for (const cmd of [
      del,
      encodeCommand({ type: 'rollback', key: 'k', toRevision: 9, ifMatchModRevision: 4 }),
      encodeCommand({ type: 'compact', revision: 77 }),
    ]) {
      for (let n = 0; n < cmd.length; n++) decodeError(cmd.subarray(0, n));
    }
    for (let n = 0; n < putValueStart; n++) decodeError(put.subarray(0, n));
    // At the value boundary the rest is the value: cutting there is a valid, empty-valued put.
    expect(decodeCommand(put.subarray(0, putValueStart))).toMatchObject({ type: 'put', value: new Uint8Array(0) });
  });

  it('fuzz: seeded random bytes never crash the decoder; accepted bytes re-encode identically', () => {
    const rng = seededRng(99);
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = randomBytes(rng, 48);
      // Bias the first bytes towards valid headers so the fuzz gets past them.
      if (bytes.length > 0 && rng.next() < 0.8) bytes[0] = 1;
      if (bytes.length > 1 && rng.next() < 0.8) bytes[1] = rng.int(1, 5);
      if (bytes.length > 2 && rng.next() < 0.6) bytes[2] = rng.int(0, 4);
      if (bytes.length > 4 && rng.next() < 0.6) {
        bytes[3] = 0;
        bytes[4] = rng.int(0, 12);
      }
      let cmd: Command;
      try {
        cmd = decodeCommand(bytes);
      } catch (err) {
        // A plain check in the hot loop; the matcher only on failure (it is slow per call).
        if (!(err instanceof InvalidCommandError)) expect(err).toBeInstanceOf(InvalidCommandError);
        continue;
      }
      accepted++;
      expectSameBytes(encodeCommand(cmd), bytes);
    }
    expect(accepted).toBeGreaterThan(0); // it reaches the success path (the mutation fuzz does so more)
  });

  it('fuzz: mutations of valid commands (flips, cuts, growth) are decoded canonically or refused', () => {
    const rng = seededRng(4242);
    for (let i = 0; i < 5000; i++) {
      const bytes = encodeCommand(randomCommand(rng)).slice();
      let mutated: Uint8Array = bytes;
      const how = rng.int(0, 3);
      if (how === 0) {
        for (let f = rng.int(1, 4); f > 0; f--) mutated[rng.int(0, mutated.length)] ^= 1 << rng.int(0, 8);
      } else if (how === 1) {
        mutated = bytes.subarray(0, rng.int(0, bytes.length));
      } else {
        mutated = Uint8Array.of(...bytes, ...randomBytes(rng, 4));
      }
      try {
        const cmd = decodeCommand(mutated);
        expectSameBytes(encodeCommand(cmd), mutated);
      } catch (err) {
        if (!(err instanceof InvalidCommandError)) expect(err).toBeInstanceOf(InvalidCommandError);
      }
    }
  });
});
