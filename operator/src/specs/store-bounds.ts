// The store's byte bounds for the pods. A node holds its live data and its retained history in
// memory, so a pod with a memory limit and the node defaults (2 GiB of live data, 256 MiB of
// history) would be OOM-killed long before its quota refused a write, and every pod at once,
// since they all hold the same data. When the limit is set and the spec leaves a bound out, the
// bound is derived from the limit: a quarter for the live data, an eighth for the history, which
// leaves the rest for the process, the per-key overhead a byte count does not see, and the
// entries not yet snapshotted.
import { HISTORY_RETENTION, QUOTA_BYTES, type ResolvedSpec } from '../api/types.js';

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a Kubernetes quantity such as `512Mi` or `1.5G`; null for forms this does not read. */
export function quantityBytes(q: string | number | undefined): number | null {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? Math.floor(q) : null;
  if (typeof q !== 'string') return null;
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(q.trim());
  if (m === null) return null;
  return Math.floor(Number(m[1]) * UNITS[m[2] ?? '']!);
}

export interface StoreBounds {
  quotaBytes?: number;
  historyRetainBytes?: number;
}

/** The bounds to pass as flags: the spec's, else derived from the memory limit, else none. */
export function storeBounds(spec: ResolvedSpec): StoreBounds {
  const limit = quantityBytes(spec.resources?.limits?.['memory'] as string | number | undefined);
  const clamp = (v: number, b: { minimum: number; maximum: number }) => Math.min(b.maximum, Math.max(b.minimum, v));
  const quotaBytes = spec.quotaBytes ?? (limit !== null ? clamp(Math.floor(limit / 4), QUOTA_BYTES) : undefined);
  const historyRetainBytes = spec.history?.retainBytes ?? (limit !== null ? clamp(Math.floor(limit / 8), HISTORY_RETENTION.retainBytes) : undefined);
  return {
    ...(quotaBytes !== undefined ? { quotaBytes } : {}),
    ...(historyRetainBytes !== undefined ? { historyRetainBytes } : {}),
  };
}
