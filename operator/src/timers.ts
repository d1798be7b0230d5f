// Time for the controller loop, the watches and the leader election, injected so that their
// tests run on a manual clock (style point 9).
export interface Timers {
  /** Monotonic milliseconds: for durations and deadlines. */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the epoch: for timestamps others read (Lease times). */
  wallMs(): number;
  setTimeout(run: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: unknown;
}

export const realTimers: Timers = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout: (run, ms) => {
    const t = setTimeout(run, ms);
    t.unref?.();
    return { id: t };
  },
  clearTimeout: (h) => clearTimeout(h.id as NodeJS.Timeout),
};

/** Exponential back-off: base * 2^attempt, capped (attempt 0 gives base). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}
