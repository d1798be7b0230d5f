// Values in JSON bodies (listings, history, watch events): a UTF-8 string when the bytes are valid
// UTF-8, else base64 with `"encoding": "base64"` (design section 3). Clients decode by looking at
// `encoding` alone.

// fatal: invalid UTF-8 must be detected, not replaced by U+FFFD. ignoreBOM: a leading U+FEFF is
// part of the value and must survive the round trip.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface EncodedValue {
  value: string;
  encoding?: 'base64';
}

export function encodeValue(bytes: Uint8Array): EncodedValue {
  try {
    return { value: strictUtf8.decode(bytes) };
  } catch {
    return { value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), encoding: 'base64' };
  }
}

/** The bytes as a Buffer without copying (values are shared with the store: never mutate). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
