// A small YAML writer for JSON data (objects, arrays, strings, numbers, booleans, null): block
// style, keys in insertion order, strings quoted unless they are unambiguously plain. Enough for
// the CRD and example manifests without a YAML dependency; the tests read its output back with a
// real YAML parser.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Plain scalars that YAML 1.1 or 1.2 would read as something other than the same string. */
const RESERVED = /^(?:~|null|true|false|yes|no|on|off|y|n|\.nan|\.inf|-\.inf|\+\.inf)$/i;
const NUMBER_LIKE = /^[-+]?(?:\.?[0-9]|0x|0o)/i;
const SAFE_PLAIN = /^[A-Za-z_/.$][A-Za-z0-9_\-/.$()' ]*$/;

function scalar(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as YAML`);
    return String(value);
  }
  const plain =
    SAFE_PLAIN.test(value) && !RESERVED.test(value) && !NUMBER_LIKE.test(value) && !value.endsWith(' ') && !value.includes(' #') && !value.includes(': ');
  // A JSON string is a valid YAML double-quoted scalar.
  return plain ? value : JSON.stringify(value);
}

function isScalar(v: Json): v is string | number | boolean | null {
  return v === null || typeof v !== 'object';
}

function isEmpty(v: Json): boolean {
  return Array.isArray(v) ? v.length === 0 : v !== null && typeof v === 'object' && Object.keys(v).length === 0;
}

function inline(v: Json): string {
  if (isScalar(v)) return scalar(v);
  return Array.isArray(v) ? '[]' : '{}';
}

function lines(v: Json, indent: string): string[] {
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const item of v) {
      if (isScalar(item) || isEmpty(item)) {
        out.push(`${indent}- ${inline(item)}`);
        continue;
      }
      // The first line of the item goes after the dash; the rest keep the item's indentation.
      const inner = lines(item, `${indent}  `);
      out.push(`${indent}- ${inner[0]!.slice(indent.length + 2)}`, ...inner.slice(1));
    }
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const out: string[] = [];
    for (const [key, value] of Object.entries(v)) {
      if (value === undefined) continue;
      const k = scalar(key);
      if (isScalar(value) || isEmpty(value)) out.push(`${indent}${k}: ${inline(value)}`);
      else out.push(`${indent}${k}:`, ...lines(value, Array.isArray(value) ? indent : `${indent}  `));
    }
    return out;
  }
  return [`${indent}${scalar(v)}`];
}

/** One YAML document; `undefined` members are left out, as JSON.stringify does. */
export function toYaml(value: unknown): string {
  // A JSON round trip drops undefined and rejects what JSON cannot hold (functions, cycles).
  const json = JSON.parse(JSON.stringify(value)) as Json;
  if (isScalar(json) || isEmpty(json)) return `${inline(json)}\n`;
  return `${lines(json, '').join('\n')}\n`;
}
