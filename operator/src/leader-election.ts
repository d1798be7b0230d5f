// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: a
// candidate takes the Lease when it is free or when its holder has not renewed it for a whole
// lease duration *as observed locally* (monotonic time since the record last changed, so clock
// skew between operators does not matter); writes are conditional on resourceVersion, so two
// candidates never both win. A leader that cannot renew within the renew deadline stops leading
// (the process exits and restarts as a candidate): better no leader for a moment than two.
import { isConflict, type Kube } from './kube.js';
import type { Logger } from './logger.js';
import type { TimerHandle, Timers } from './timers.js';
import type { V1Lease } from '@kubernetes/client-node';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader gives up when it could not renew for this long (below leaseDurationMs). */
  renewDeadlineMs: number;
  /** How often candidates try and leaders renew. */
  retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMING = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private leading = false;
  private observed: { holder: string; renewTime: string; resourceVersion: string } | null = null;
  private observedAtMs = 0;
  private lastRenewMs = 0;
  private timer: TimerHandle | null = null;
  private stopped = false;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly kube: Kube,
    private readonly timers: Timers,
    private readonly logger: Logger,
    private readonly o: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
  ) {
    if (o.renewDeadlineMs >= o.leaseDurationMs) throw new Error('renewDeadlineMs must be below leaseDurationMs');
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.tick();
  }

  /** Stops trying; a leader releases the Lease so that another candidate takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.kube.get('Lease', this.o.namespace, this.o.name);
      if (lease?.spec?.holderIdentity === this.o.identity) {
        const now = new Date(this.timers.wallMs());
        await this.kube.replace('Lease', { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now } });
      }
    } catch (err) {
      this.logger.warn('cannot release the leader lease', { error: (err as Error).message });
    }
    this.callbacks.onStoppedLeading();
  }

  private tick(): void {
    if (this.stopped) return;
    this.inFlight = this.attempt().finally(() => {
      this.inFlight = null;
      if (!this.stopped) this.timer = this.timers.setTimeout(() => this.tick(), this.o.retryPeriodMs);
    });
  }

  private async attempt(): Promise<void> {
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.logger.warn('leader election attempt failed', { error: (err as Error).message });
    }
    const now = this.timers.monotonicMs();
    if (ok) {
      this.lastRenewMs = now;
      if (!this.leading) {
        this.leading = true;
        this.logger.info('became the leader', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenewMs > this.o.renewDeadlineMs) {
      this.leading = false;
      this.logger.error('lost the leader lease (could not renew in time)', { identity: this.o.identity });
      this.callbacks.onStoppedLeading();
    }
  }

  /** One attempt: true when this candidate holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date(this.timers.wallMs());
    const nowMs = this.timers.monotonicMs();
    const durationSeconds = Math.ceil(this.o.leaseDurationMs / 1000);
    const lease = await this.kube.get('Lease', this.o.namespace, this.o.name);
    if (lease === null) {
      const fresh: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      };
      try {
        await this.kube.create('Lease', fresh);
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = { holder, renewTime: String(spec.renewTime ? new Date(spec.renewTime).getTime() : ''), resourceVersion: lease.metadata?.resourceVersion ?? '' };
    if (this.observed === null || this.observed.holder !== record.holder || this.observed.renewTime !== record.renewTime) {
      this.observed = record;
      this.observedAtMs = nowMs;
    }
    const heldByUs = holder === this.o.identity;
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const expired = holder === '' || this.observedAtMs + leaseMs <= nowMs;
    if (!heldByUs && !expired) return false;
    const next: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        ...(heldByUs ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      const written = await this.kube.replace('Lease', next);
      this.observed = { holder: this.o.identity, renewTime: String(now.getTime()), resourceVersion: written.metadata?.resourceVersion ?? '' };
      this.observedAtMs = nowMs;
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
