// Liveness after healing (Raft §5.6, "Timing and availability": once the network is well behaved
// and a majority of servers is up, a leader is elected and the system makes progress). After the
// liveness phase starts, within a bound of virtual time: some leader commits a fresh proposal and
// every live voter of the final configuration applies it.
import { SimViolation } from '../violation.js';

export interface LivenessProbe {
  nowMs: number;
  /** The node the probe proposal was committed through, once it was. */
  committedIndex: number | null;
  leaders: readonly string[];
  /** Live voters of the final configuration and what they applied. */
  voters: ReadonlyArray<{ id: string; applied: number }>;
}

export class LivenessCheck {
  static readonly checker = 'liveness';

  constructor(
    private readonly startMs: number,
    private readonly boundMs: number,
  ) {}

  deadlineMs(): number {
    return this.startMs + this.boundMs;
  }

  /** True once met; throws once the bound has passed without it. */
  evaluate(probe: LivenessProbe): boolean {
    const met =
      probe.committedIndex !== null &&
      probe.voters.length > 0 &&
      probe.voters.every((v) => v.applied >= (probe.committedIndex as number));
    if (met) return true;
    if (probe.nowMs >= this.deadlineMs()) {
      const why =
        probe.committedIndex === null
          ? `no proposal committed (leaders seen now: ${probe.leaders.join(', ') || 'none'})`
          : `proposal at ${probe.committedIndex} not applied everywhere: ${probe.voters
              .map((v) => `${v.id}@${v.applied}`)
              .join(' ')}`;
      throw new SimViolation(LivenessCheck.checker, `${this.boundMs}ms after healing: ${why}`);
    }
    return false;
  }
}
