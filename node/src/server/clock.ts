// Time, injected: the driver and timeouts read it through this, so that tests can control it.
export interface Clock {
  /** Milliseconds from an arbitrary origin; never goes backwards. */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the epoch (for logs and audit only, never for ordering). */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};
