// Virtual time: a binary min-heap of callbacks ordered by (time, insertion order), so that two
// events at the same virtual instant always run in the same order for a given seed.

interface Scheduled {
  atMs: number;
  seq: number;
  run: () => void;
}

export class EventQueue {
  private heap: Scheduled[] = [];
  private seq = 0;
  private nowMs = 0;

  now(): number {
    return this.nowMs;
  }

  size(): number {
    return this.heap.length;
  }

  at(atMs: number, run: () => void): void {
    const item: Scheduled = { atMs: Math.max(atMs, this.nowMs), seq: this.seq++, run };
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(item, heap[parent] as Scheduled)) break;
      heap[i] = heap[parent] as Scheduled;
      i = parent;
    }
    heap[i] = item;
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.nowMs + delayMs, run);
  }

  /** Runs the next event if it is due no later than `untilMs`; false when there is none. */
  runNext(untilMs: number): boolean {
    const top = this.heap[0];
    if (top === undefined || top.atMs > untilMs) return false;
    const last = this.heap.pop() as Scheduled;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown();
    }
    this.nowMs = top.atMs;
    top.run();
    return true;
  }

  /** Moves the clock forward when nothing is scheduled before `toMs`. */
  advanceTo(toMs: number): void {
    if (toMs > this.nowMs) this.nowMs = toMs;
  }

  private siftDown(): void {
    const heap = this.heap;
    const item = heap[0] as Scheduled;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && less(heap[right] as Scheduled, heap[left] as Scheduled) ? right : left;
      if (!less(heap[child] as Scheduled, item)) break;
      heap[i] = heap[child] as Scheduled;
      i = child;
    }
    heap[i] = item;
  }
}

function less(a: Scheduled, b: Scheduled): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
