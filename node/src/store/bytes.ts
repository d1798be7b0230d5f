// Byte helpers shared by the codecs.

/**
 * A copy in a fresh, exactly-sized buffer, always a plain Uint8Array. Not `view.slice()`: on a
 * Node Buffer (what sockets and LevelDB hand out) `slice` returns a view, which would keep the
 * caller's whole buffer alive and let later writes to it change stored values.
 */
export function copyBytes(view: Uint8Array): Uint8Array {
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}
