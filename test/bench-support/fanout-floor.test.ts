import { describe, expect, it } from 'vitest';
import { rawFanoutLimit } from '../bench/lib/fanout-floor.js';

describe('rawFanoutLimit', () => {
  it('delivers every event to every connection of its server and measures each delay', async () => {
    const r = await rawFanoutLimit({ watchers: 30, servers: 2, eventsPerSec: 20, seconds: 0.5 });
    // 10 events per server, each to its 15 connections.
    expect(r.deliveries).toBe(300);
    expect(r.missing).toBe(0);
    expect(r.p50Ms).toBeGreaterThanOrEqual(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
    expect(r.maxMs).toBeGreaterThanOrEqual(r.p99Ms);
  }, 20_000);
});
