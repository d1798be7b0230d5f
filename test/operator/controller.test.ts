// The work queue, requeue delays, back-off and resync, on a manual clock.
import { describe, expect, it } from 'vitest';
import { Controller } from '../../operator/src/controller.js';
import { silentLogger } from '../../operator/src/logger.js';
import type { ClusterRef } from '../../operator/src/reconcile/reconcile.js';
import type { StepResult } from '../../operator/src/reconcile/types.js';
import { backoffMs } from '../../operator/src/timers.js';
import { ManualTimers, settle } from './manual-timers.js';

const a: ClusterRef = { namespace: 'ns', name: 'a' };
const b: ClusterRef = { namespace: 'ns', name: 'b' };

function setup(behaviour: (ref: ClusterRef, n: number) => Promise<StepResult> | StepResult, list: () => Promise<ClusterRef[]> = async () => []) {
  const timers = new ManualTimers();
  const runs: { key: string; at: number }[] = [];
  const metrics = { results: [] as string[], depth: [] as number[], resyncs: [] as string[] };
  let n = 0;
  const controller = new Controller({
    reconcile: async (ref) => {
      runs.push({ key: `${ref.namespace}/${ref.name}`, at: timers.monotonicMs() });
      return behaviour(ref, n++);
    },
    listClusters: list,
    timers,
    logger: silentLogger,
    metrics: {
      reconciled: (r) => metrics.results.push(r),
      queueDepth: (d) => metrics.depth.push(d),
      resync: (r) => metrics.resyncs.push(r),
    },
    workers: 2,
    resyncMs: 10_000,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
  });
  return { timers, controller, runs, metrics };
}

describe('backoffMs', () => {
  it('doubles from the base up to the cap', () => {
    expect([0, 1, 2, 3, 4, 10, 100].map((n) => backoffMs(n, 100, 1000))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });
});

describe('Controller', () => {
  it('reconciles every cluster listed by the resync, and again each resync period', async () => {
    const { timers, controller, runs, metrics } = setup(() => ({ kind: 'done' }), async () => [a, b]);
    controller.start();
    await timers.advance(0);
    expect(runs.map((r) => r.key)).toEqual(['ns/a', 'ns/b']);
    await timers.advance(10_000);
    expect(runs.map((r) => `${r.key}@${r.at}`)).toEqual(['ns/a@0', 'ns/b@0', 'ns/a@10000', 'ns/b@10000']);
    expect(metrics.resyncs).toEqual(['ok', 'ok']);
    expect(controller.healthy()).toBe(true);
    await controller.stop();
    expect(controller.healthy()).toBe(false);
  });

  it('requeues after the delay a pass asks for', async () => {
    const { timers, controller, runs } = setup((_r, n) => (n === 0 ? { kind: 'requeue', afterMs: 3000, reason: 'wait' } : { kind: 'done' }));
    controller.start();
    controller.enqueue(a);
    await timers.advance(2999);
    expect(runs).toHaveLength(1);
    expect(controller.scheduled().get('ns/a')).toBe(3000);
    await timers.advance(1);
    expect(runs.map((r) => r.at)).toEqual([0, 3000]);
    await timers.advance(60_000);
    expect(runs).toHaveLength(2);
  });

  it('an event runs a delayed key at once; a later delay does not postpone an earlier one', async () => {
    const { timers, controller, runs } = setup(() => ({ kind: 'done' }));
    controller.start();
    controller.enqueueAfter(a, 5000);
    controller.enqueueAfter(a, 8000);
    expect(controller.scheduled().get('ns/a')).toBe(5000);
    controller.enqueueAfter(a, 1000);
    expect(controller.scheduled().get('ns/a')).toBe(1000);
    controller.enqueue(a);
    await timers.advance(0);
    expect(runs.map((r) => r.at)).toEqual([0]);
    expect(controller.scheduled().size).toBe(0);
    controller.enqueueAfter(a, 0);
    await timers.advance(0);
    expect(runs).toHaveLength(2);
  });

  it('backs off exponentially per key after failures, and resets after a success', async () => {
    const { timers, controller, runs, metrics } = setup((_r, n) => {
      if (n < 4 || n === 5) throw new Error('api down');
      return { kind: 'done' };
    });
    controller.start();
    controller.enqueue(a);
    await timers.advance(5000);
    expect(runs.map((r) => r.at)).toEqual([0, 100, 300, 700, 1500]);
    expect(metrics.results).toEqual(['error', 'error', 'error', 'error', 'done']);
    controller.enqueue(a);
    await timers.advance(5000);
    // The failure after the success starts from the base again.
    expect(runs.map((r) => r.at).slice(5)).toEqual([5000, 5100]);
  });

  it('never runs one key twice at once; an event during a pass runs it once more afterwards', async () => {
    let release: (() => void) | null = null;
    let concurrent = 0;
    let maxConcurrent = 0;
    const { timers, controller, runs } = setup(async (ref) => {
      if (ref.name === 'a') {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (release === null) await new Promise<void>((r) => (release = r));
        concurrent--;
      }
      return { kind: 'done' };
    });
    controller.start();
    controller.enqueue(a);
    await settle();
    controller.enqueue(a);
    controller.enqueue(a);
    controller.enqueue(b);
    await settle();
    expect(runs.map((r) => r.key)).toEqual(['ns/a', 'ns/b']);
    release!();
    await timers.advance(0);
    expect(runs.map((r) => r.key)).toEqual(['ns/a', 'ns/b', 'ns/a']);
    expect(maxConcurrent).toBe(1);
  });

  it('runs at most `workers` passes at once and queues the rest once', async () => {
    const releases: (() => void)[] = [];
    const { controller, runs, metrics } = setup(() => new Promise<StepResult>((r) => releases.push(() => r({ kind: 'done' }))));
    controller.start();
    for (const name of ['a', 'b', 'c', 'd', 'c']) controller.enqueue({ namespace: 'ns', name });
    await settle();
    expect(runs).toHaveLength(2);
    expect(controller.pending()).toEqual(['ns/c', 'ns/d']);
    expect(metrics.depth.at(-1)).toBe(2);
    releases.shift()!();
    await settle();
    expect(runs.map((r) => r.key)).toEqual(['ns/a', 'ns/b', 'ns/c']);
    const stopped = controller.stop();
    releases.splice(0).forEach((r) => r());
    await stopped;
    expect(runs).toHaveLength(3);
  });

  it('reports unhealthy when the resync keeps failing, and recovers', async () => {
    let fail = false;
    const { timers, controller, metrics } = setup(() => ({ kind: 'done' }), async () => {
      if (fail) throw new Error('forbidden');
      return [];
    });
    controller.start();
    await timers.advance(0);
    fail = true;
    await timers.advance(30_000);
    expect(controller.healthy()).toBe(true);
    await timers.advance(10_001);
    expect(controller.healthy()).toBe(false);
    expect(metrics.resyncs).toContain('error');
    fail = false;
    await timers.advance(10_000);
    expect(controller.healthy()).toBe(true);
  });

  it('does nothing before start and nothing after stop', async () => {
    const { timers, controller, runs } = setup(() => ({ kind: 'requeue', afterMs: 10, reason: 'x' }));
    controller.enqueue(a);
    await timers.advance(100);
    expect(runs).toHaveLength(0);
    controller.start();
    controller.start();
    await timers.advance(5);
    expect(runs).toHaveLength(1);
    await controller.stop();
    await timers.advance(1000);
    expect(runs).toHaveLength(1);
    expect(timers.pendingTimers()).toBe(0);
  });
});

describe('realTimers', () => {
  it('runs and cancels timers and reads both clocks', async () => {
    const { realTimers } = await import('../../operator/src/timers.js');
    const ran: string[] = [];
    realTimers.setTimeout(() => ran.push('a'), 1);
    const h = realTimers.setTimeout(() => ran.push('b'), 1);
    realTimers.clearTimeout(h);
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual(['a']);
    expect(Math.abs(realTimers.wallMs() - Date.now())).toBeLessThan(1000);
    expect(realTimers.monotonicMs()).toBeGreaterThan(0);
  });
});
