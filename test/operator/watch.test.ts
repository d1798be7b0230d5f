// SupervisedWatch: restarts after errors with back-off, after a failed start, and by age.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../operator/src/logger.js';
import { SupervisedWatch, type InformerLike } from '../../operator/src/watch.js';
import { ManualTimers } from './manual-timers.js';

type Cb = (x?: unknown) => void;

class FakeInformer implements InformerLike<string> {
  readonly handlers = new Map<string, Cb[]>();
  started = 0;
  stopped = 0;
  constructor(private readonly failStart = false) {}
  on(event: string, cb: (arg: never) => void): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), cb as Cb]);
  }
  emit(event: string, arg?: unknown): void {
    for (const cb of this.handlers.get(event) ?? []) cb(arg);
  }
  async start(): Promise<void> {
    this.started++;
    if (this.failStart) throw new Error('list failed');
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
}

function setup(failStarts = 0) {
  const timers = new ManualTimers();
  const made: FakeInformer[] = [];
  const seen: string[] = [];
  const restarts: string[] = [];
  const watch = new SupervisedWatch<string>({
    name: 'pods',
    make: () => {
      const inf = new FakeInformer(made.length < failStarts);
      made.push(inf);
      return inf;
    },
    onObject: (o) => seen.push(o),
    timers,
    logger: silentLogger,
    onRestart: (r) => restarts.push(r),
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    maxAgeMs: 60_000,
  });
  return { timers, made, seen, restarts, watch };
}

describe('SupervisedWatch', () => {
  it('delivers add, update and delete', async () => {
    const { made, seen, watch, timers } = setup();
    watch.start();
    await timers.advance(0);
    made[0]!.emit('connect');
    expect(watch.isConnected()).toBe(true);
    made[0]!.emit('add', 'a');
    made[0]!.emit('update', 'b');
    made[0]!.emit('delete', 'c');
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('restarts after an error with exponential back-off, reset once connected', async () => {
    const { made, watch, timers, restarts } = setup();
    watch.start();
    await timers.advance(0);
    made[0]!.emit('error', { message: 'connection reset' });
    expect(watch.isConnected()).toBe(false);
    await timers.advance(99);
    expect(made).toHaveLength(1);
    await timers.advance(1);
    expect(made).toHaveLength(2);
    expect(made[0]!.stopped).toBe(1);
    made[1]!.emit('error', new Error('again'));
    await timers.advance(199);
    expect(made).toHaveLength(2);
    await timers.advance(1);
    expect(made).toHaveLength(3);
    made[2]!.emit('connect');
    made[2]!.emit('error', 'third');
    await timers.advance(100);
    expect(made).toHaveLength(4);
    expect(restarts).toEqual(['error', 'error', 'error']);
  });

  it('ignores events of an informer it replaced', async () => {
    const { made, seen, watch, timers } = setup();
    watch.start();
    await timers.advance(0);
    made[0]!.emit('error', 'x');
    made[0]!.emit('add', 'late');
    made[0]!.emit('error', 'twice');
    await timers.advance(100);
    expect(seen).toEqual([]);
    expect(made).toHaveLength(2);
  });

  it('restarts when start() itself fails', async () => {
    const { made, watch, timers } = setup(2);
    watch.start();
    await timers.advance(0);
    await timers.advance(100);
    await timers.advance(200);
    expect(made).toHaveLength(3);
    expect(made[2]!.started).toBe(1);
  });

  it('restarts a quiet watch after maxAgeMs (half-open connections)', async () => {
    const { made, watch, timers, restarts } = setup();
    watch.start();
    await timers.advance(60_000);
    expect(made).toHaveLength(2);
    expect(restarts).toEqual(['age']);
  });

  it('stops for good', async () => {
    const { made, watch, timers } = setup();
    watch.start();
    await timers.advance(0);
    await watch.stop();
    made[0]!.emit('add', 'x');
    made[0]!.emit('error', 'x');
    await timers.advance(120_000);
    expect(made).toHaveLength(1);
    expect(made[0]!.stopped).toBe(1);
    expect(timers.pendingTimers()).toBe(0);
  });
});
