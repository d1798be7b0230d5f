// A manual clock for the controller, watch and leader-election tests: time moves only in
// advance(), which runs due timers in order and lets the promises they start settle.
import type { TimerHandle, Timers } from '../../operator/src/timers.js';

export class ManualTimers implements Timers {
  private now = 0;
  private readonly wallBase = Date.UTC(2025, 0, 1);
  private seq = 0;
  private timers: { at: number; seq: number; run: () => void }[] = [];

  monotonicMs(): number {
    return this.now;
  }

  wallMs(): number {
    return this.wallBase + this.now;
  }

  setTimeout(run: () => void, ms: number): TimerHandle {
    const t = { at: this.now + Math.max(0, ms), seq: ++this.seq, run };
    this.timers.push(t);
    return { id: t };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle.id);
  }

  pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.now = next.at;
      next.run();
    }
    this.now = end;
    await settle();
  }
}

/** Lets pending promise chains (and I/O-free async work) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
