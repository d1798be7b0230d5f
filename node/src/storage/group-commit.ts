// Group commit: callers submit items; one flush (one fsync) handles every item that arrived while
// the previous flush was running. The first item of an idle queue is flushed right away (after
// the current tick, so that items submitted in the same tick share it): a lone writer pays one
// fsync and no added wait, and many writers share each fsync.

interface Waiter<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private pending: Waiter<T>[] = [];
  private running: Promise<void> | null = null;
  private failure: { err: unknown } | null = null;

  /**
   * `flush` persists its items, in order, and resolves once they are durable. If it rejects,
   * the queue fails: that batch, every queued item and every later submit reject with the error
   * (an fsync that failed may have lost data; retrying it could report success for lost writes).
   */
  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  /** Resolves when `item` is durable; items resolve in submission order. */
  submit(item: T): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.err);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves once everything submitted so far is flushed (or the queue has failed). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  private async drain(): Promise<void> {
    await Promise.resolve();
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.flush(batch.map((w) => w.item));
      } catch (err) {
        this.failure = { err };
        for (const w of [...batch, ...this.pending]) w.reject(err);
        this.pending = [];
        break;
      }
      for (const w of batch) w.resolve();
    }
    this.running = null;
  }
}
