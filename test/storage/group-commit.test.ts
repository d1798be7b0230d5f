import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../node/src/storage/group-commit.js';

/** A flush function whose every call waits until the test releases it. */
function controlledFlush(): { flush: (items: number[]) => Promise<void>; calls: number[][]; release: (err?: Error) => void } {
  const calls: number[][] = [];
  const gates: ((err?: Error) => void)[] = [];
  return {
    calls,
    flush: (items) => {
      calls.push(items);
      return new Promise<void>((resolve, reject) => gates.push((err) => (err ? reject(err) : resolve())));
    },
    release: (err) => gates.shift()!(err),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('flushes items submitted in the same tick together, and those arriving meanwhile in the next flush', async () => {
    const f = controlledFlush();
    const queue = new GroupCommit<number>(f.flush);
    const done: number[] = [];
    const all = [1, 2, 3].map((i) => queue.submit(i).then(() => void done.push(i)));
    await tick();
    expect(f.calls).toEqual([[1, 2, 3]]);
    all.push(...[4, 5].map((i) => queue.submit(i).then(() => void done.push(i))));
    await tick();
    expect(f.calls).toHaveLength(1);
    expect(done).toEqual([]);
    f.release();
    await tick();
    expect(done).toEqual([1, 2, 3]);
    expect(f.calls).toEqual([[1, 2, 3], [4, 5]]);
    f.release();
    await Promise.all(all);
    expect(done).toEqual([1, 2, 3, 4, 5]);
    await queue.idle();
  });

  it('resolves a lone item after one flush without waiting for others', async () => {
    const f = controlledFlush();
    const queue = new GroupCommit<number>(f.flush);
    const p = queue.submit(7);
    await tick();
    f.release();
    await p;
    expect(f.calls).toEqual([[7]]);
  });

  it('fails the batch, everything queued and everything later once a flush fails', async () => {
    const f = controlledFlush();
    const queue = new GroupCommit<number>(f.flush);
    const first = queue.submit(1);
    await tick();
    const queued = queue.submit(2);
    const boom = new Error('fsync failed');
    f.release(boom);
    await expect(first).rejects.toBe(boom);
    await expect(queued).rejects.toBe(boom);
    await expect(queue.submit(3)).rejects.toBe(boom);
    expect(queue.failed).toBe(true);
    expect(f.calls).toEqual([[1]]);
    await queue.idle();
  });

  it('idle() waits for everything submitted so far', async () => {
    const f = controlledFlush();
    const queue = new GroupCommit<number>(f.flush);
    let flushed = false;
    void queue.submit(1).then(() => (flushed = true));
    const idle = queue.idle();
    await tick();
    f.release();
    await idle;
    expect(flushed).toBe(true);
  });
});
