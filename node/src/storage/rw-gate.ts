// Readers share; an exclusive section waits for the readers in flight and holds new ones back.
// The WAL and LevelDB logs use it so that a read never straddles a flush that deletes or rewrites
// entries it is reading: such a read could see a "hole" that is really a concurrent truncation.

export class ReadWriteGate {
  private readers = 0;
  private readersDrained: (() => void) | null = null;
  private exclusiveDone: Promise<void> | null = null;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusiveDone) await this.exclusiveDone;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) this.readersDrained?.();
    }
  }

  /** Callers must not overlap exclusive sections (the write queue runs one flush at a time). */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    this.exclusiveDone = new Promise<void>((resolve) => (release = resolve));
    try {
      if (this.readers > 0) await new Promise<void>((resolve) => (this.readersDrained = resolve));
      this.readersDrained = null;
      return await fn();
    } finally {
      this.exclusiveDone = null;
      release();
    }
  }
}
