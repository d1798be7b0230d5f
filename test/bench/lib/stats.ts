// Pure statistics for the benchmarks: percentiles of latency samples, medians over runs.
// No I/O here, so that test/bench-support can check it.

export interface LatencySummary {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/**
 * Nearest-rank percentile of an ascending array (p in [0, 1]): the smallest sample such that at
 * least p of the samples are at or below it. 0 for an empty array.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil(p * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!;
}

/** Latency percentiles of samples in milliseconds (the input is not modified). */
export function summarizeLatencies(samplesMs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samplesMs).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    maxMs: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
    meanMs: sorted.length === 0 ? 0 : sum / sorted.length,
  };
}

/** Median of a list (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Field-by-field median of numeric records (every run of one point): each number is the median
 * of that field over the runs. Non-numeric fields are taken from the first record.
 */
export function medianRecord<T extends object>(records: readonly T[]): T {
  if (records.length === 0) throw new Error('medianRecord of nothing');
  const rows = records as readonly Record<string, unknown>[];
  const out: Record<string, unknown> = { ...rows[0]! };
  for (const [k, v] of Object.entries(rows[0]!)) {
    if (typeof v === 'number') out[k] = median(rows.map((r) => r[k] as number));
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = medianRecord(rows.map((r) => r[k] as object));
    }
  }
  return out as T;
}

/**
 * A growable Float64 sample buffer: millions of latencies without boxing each one in an Array.
 */
export class Samples {
  private buf: Float64Array;
  length = 0;
  constructor(initialCapacity = 1 << 16) {
    this.buf = new Float64Array(initialCapacity);
  }
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  clear(): void {
    this.length = 0;
  }
  view(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Round to `digits` significant decimals for readable JSON. */
export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
