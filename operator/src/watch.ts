// Watches that keep working. A @kubernetes/client-node 1.4 informer relists by itself after 410
// Gone, but any other error stops it until start() is called again, and a half-open connection
// can hang without an error. So: restart after an error (exponential back-off, reset once a
// watch connects), and restart every `maxAgeMs` anyway. The periodic resync of the controller
// covers what a stalled watch misses in between.
import type { Logger } from './logger.js';
import { backoffMs, type TimerHandle, type Timers } from './timers.js';

/** The part of a client-node Informer used here. */
export interface InformerLike<T> {
  on(event: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  on(event: 'error' | 'connect', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SupervisedWatchOptions<T> {
  name: string;
  make(): InformerLike<T>;
  onObject(obj: T): void;
  timers: Timers;
  logger: Logger;
  onRestart?(reason: 'error' | 'age'): void;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  maxAgeMs?: number;
}

export class SupervisedWatch<T> {
  private informer: InformerLike<T> | null = null;
  private generation = 0;
  private failures = 0;
  private restartTimer: TimerHandle | null = null;
  private ageTimer: TimerHandle | null = null;
  private stopped = true;
  private connected = false;

  constructor(private readonly o: SupervisedWatchOptions<T>) {}

  /** True while the current informer has connected and not failed since. */
  isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    const inf = this.informer;
    this.informer = null;
    this.connected = false;
    await inf?.stop().catch(() => undefined);
  }

  private clearTimers(): void {
    if (this.restartTimer !== null) this.o.timers.clearTimeout(this.restartTimer);
    if (this.ageTimer !== null) this.o.timers.clearTimeout(this.ageTimer);
    this.restartTimer = null;
    this.ageTimer = null;
  }

  private open(): void {
    if (this.stopped) return;
    const generation = ++this.generation;
    const inf = this.o.make();
    this.informer = inf;
    const current = () => generation === this.generation && !this.stopped;
    const deliver = (obj: T) => {
      if (current()) this.o.onObject(obj);
    };
    inf.on('add', deliver);
    inf.on('update', deliver);
    inf.on('delete', deliver);
    inf.on('connect', () => {
      if (!current()) return;
      this.connected = true;
      this.failures = 0;
    });
    inf.on('error', (err) => {
      if (current()) this.restart('error', err);
    });
    inf.start().catch((err: unknown) => {
      if (current()) this.restart('error', err);
    });
    const maxAge = this.o.maxAgeMs ?? 10 * 60_000;
    this.ageTimer = this.o.timers.setTimeout(() => {
      if (current()) this.restart('age');
    }, maxAge);
  }

  private restart(reason: 'error' | 'age', err?: unknown): void {
    this.clearTimers();
    this.connected = false;
    const old = this.informer;
    this.informer = null;
    this.generation++;
    void old?.stop().catch(() => undefined);
    this.o.onRestart?.(reason);
    const delay = reason === 'age' ? 0 : backoffMs(this.failures++, this.o.backoffBaseMs ?? 1000, this.o.backoffMaxMs ?? 30_000);
    if (reason === 'error') this.o.logger.warn('watch failed; restarting', { watch: this.o.name, error: describeError(err), retryInMs: delay });
    else this.o.logger.debug('restarting watch (age)', { watch: this.o.name });
    this.restartTimer = this.o.timers.setTimeout(() => {
      this.restartTimer = null;
      this.open();
    }, delay);
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err !== null && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
