// The controller loop: a work queue of ConfluxCluster keys (namespace/name) fed by watches and a
// periodic resync, reconciled by a few workers. A key is never reconciled by two workers at once;
// a key added while it is being reconciled runs again afterwards (controller-runtime semantics).
// A pass that asks to requeue runs again after its delay; a pass that throws runs again after an
// exponential back-off per key, reset by the next success.
import type { Logger } from './logger.js';
import type { ClusterRef } from './reconcile/reconcile.js';
import type { StepResult } from './reconcile/types.js';
import { backoffMs, type TimerHandle, type Timers } from './timers.js';

export interface ControllerMetrics {
  reconciled(result: StepResult['kind'] | 'error', seconds: number): void;
  queueDepth(depth: number): void;
  resync(result: 'ok' | 'error'): void;
}

export interface ControllerOptions {
  reconcile(ref: ClusterRef): Promise<StepResult>;
  /** Every ConfluxCluster to reconcile (the resync). */
  listClusters(): Promise<ClusterRef[]>;
  timers: Timers;
  logger: Logger;
  metrics?: ControllerMetrics;
  workers?: number;
  resyncMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

const keyOf = (ref: ClusterRef) => `${ref.namespace}/${ref.name}`;
const refOf = (key: string): ClusterRef => {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
};

export class Controller {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added again while processing: queued once the current pass ends. */
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { atMs: number; handle: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  private resyncTimer: TimerHandle | null = null;
  private running = false;
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private lastResyncOkMs: number | null = null;
  private readonly workers: number;
  private readonly resyncMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;

  constructor(private readonly o: ControllerOptions) {
    this.workers = o.workers ?? 2;
    this.resyncMs = o.resyncMs ?? 60_000;
    this.backoffBaseMs = o.backoffBaseMs ?? 500;
    this.backoffMaxMs = o.backoffMaxMs ?? 60_000;
  }

  /** Reconcile soon. */
  enqueue(ref: ClusterRef): void {
    const key = keyOf(ref);
    const d = this.delayed.get(key);
    if (d !== undefined) {
      this.o.timers.clearTimeout(d.handle);
      this.delayed.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.o.metrics?.queueDepth(this.queue.length);
    this.pump();
  }

  /** Reconcile after `ms`, unless something asks for it sooner. */
  enqueueAfter(ref: ClusterRef, ms: number): void {
    const key = keyOf(ref);
    if (ms <= 0) return this.enqueue(ref);
    const at = this.o.timers.monotonicMs() + ms;
    const d = this.delayed.get(key);
    if (d !== undefined) {
      if (d.atMs <= at) return;
      this.o.timers.clearTimeout(d.handle);
    }
    const handle = this.o.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.enqueue(ref);
    }, ms);
    this.delayed.set(key, { atMs: at, handle });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.resync();
    this.pump();
  }

  /** Stops taking work and waits for the passes in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.resyncTimer !== null) this.o.timers.clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    for (const d of this.delayed.values()) this.o.timers.clearTimeout(d.handle);
    this.delayed.clear();
    if (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Keys waiting (not counting delayed ones), for tests and the queue-depth metric. */
  pending(): string[] {
    return [...this.queue];
  }

  /** Delayed keys with the monotonic time they are due. */
  scheduled(): Map<string, number> {
    return new Map([...this.delayed].map(([k, v]) => [k, v.atMs]));
  }

  /** Healthy while the last resync succeeded within three periods (the API server is reachable). */
  healthy(): boolean {
    if (!this.running) return false;
    if (this.lastResyncOkMs === null) return true;
    return this.o.timers.monotonicMs() - this.lastResyncOkMs <= 3 * this.resyncMs;
  }

  private async resync(): Promise<void> {
    if (!this.running) return;
    try {
      const refs = await this.o.listClusters();
      this.lastResyncOkMs = this.o.timers.monotonicMs();
      this.o.metrics?.resync('ok');
      for (const ref of refs) this.enqueue(ref);
    } catch (err) {
      this.o.metrics?.resync('error');
      this.o.logger.warn('resync failed', { error: (err as Error).message });
    }
    if (this.running) this.resyncTimer = this.o.timers.setTimeout(() => void this.resync(), this.resyncMs);
  }

  private pump(): void {
    while (this.running && this.active < this.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.o.metrics?.queueDepth(this.queue.length);
      this.processing.add(key);
      this.active++;
      void this.work(key);
    }
  }

  private async work(key: string): Promise<void> {
    const ref = refOf(key);
    const started = this.o.timers.monotonicMs();
    try {
      const r = await this.o.reconcile(ref);
      this.o.metrics?.reconciled(r.kind, (this.o.timers.monotonicMs() - started) / 1000);
      this.failures.delete(key);
      if (r.kind === 'requeue' && this.running) this.enqueueAfter(ref, r.afterMs);
    } catch (err) {
      this.o.metrics?.reconciled('error', (this.o.timers.monotonicMs() - started) / 1000);
      const attempt = this.failures.get(key) ?? 0;
      this.failures.set(key, attempt + 1);
      const delay = backoffMs(attempt, this.backoffBaseMs, this.backoffMaxMs);
      this.o.logger.warn('reconcile failed', { cluster: key, error: (err as Error).message, retryInMs: delay });
      if (this.running) this.enqueueAfter(ref, delay);
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key) && this.running) this.enqueue(ref);
      this.pump();
      if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
