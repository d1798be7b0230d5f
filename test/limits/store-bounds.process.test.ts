// The store's byte bounds on a real node. With `--history-retain-bytes`, the leader compacts the
// history through Raft long before the count policy (10,000 revisions) would, and keeps it under
// the bound while the newest versions stay readable. With `--quota-bytes`, writes that would grow
// the live data past it are refused with 507 and nothing else changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, putRetrying, waitFor, type ProcNode } from '../support/process-cluster.js';

const BOUND = 64 * 1024;
const QUOTA = 100 * 1024;
const VALUE = 'v'.repeat(1024);
const PUTS = 300;

let cluster: ProcessCluster;
let node: ProcNode;

beforeAll(async () => {
  cluster = new ProcessCluster();
  [node] = (await cluster.define(['h'])) as [ProcNode];
  cluster.start('h', ['--bootstrap', '--history-retain-bytes', String(BOUND), '--quota-bytes', String(QUOTA)]);
  await cluster.leader(15_000);
});

afterAll(async () => {
  await cluster.destroy();
});

async function history(key: string): Promise<{ modRevision: number }[]> {
  const r = await fetch(`${node.client}/v1/history/${key}?consistency=serializable`, { signal: AbortSignal.timeout(5000) });
  expect(r.status).toBe(200);
  return ((await r.json()) as { items: { modRevision: number }[] }).items;
}

describe('the store bounds on a real node', () => {
  it('compacts the history down to the byte bound, keeping the newest versions', async () => {
    for (let i = 0; i < PUTS; i++) expect((await putRetrying(node.client, 'h/k', `${i} ${VALUE}`)).status).toBe(i === 0 ? 201 : 200);
    // Each version costs about 1.1 KB: about 58 fit under 64 KiB. The leader looks every 5 s.
    const kept = await waitFor('the history to be compacted to the byte bound', async () => {
      const items = await history('h/k');
      return items.length < 60 ? items : null;
    }, 20_000, 200);
    expect(kept.length).toBeGreaterThan(40);
    expect(kept[0]!.modRevision).toBe(PUTS);
    // The oldest versions are gone for reads too, with the oldest readable revision in the answer.
    const old = await fetch(`${node.client}/v1/kv/h/k?revision=1&consistency=serializable`, { signal: AbortSignal.timeout(5000) });
    expect(old.status).toBe(410);
    expect(((await old.json()) as { error: { code: string } }).error.code).toBe('compacted');
    const newest = await fetch(`${node.client}/v1/kv/h/k`, { signal: AbortSignal.timeout(5000) });
    expect(await newest.text()).toBe(`${PUTS - 1} ${VALUE}`);
  }, 60_000);

  it('--quota-bytes: refuses writes that would grow the live data past it (507), and nothing else', async () => {
    // About 1.1 KB per key: the quota of 100 KiB is reached within 100 new keys.
    let refused: Response | null = null;
    let stored = 0;
    for (let i = 0; i < 100 && refused === null; i++) {
      const r = await putRetrying(node.client, `q/${i}`, VALUE);
      if (r.status === 507) refused = r;
      else {
        expect(r.status).toBe(201);
        stored++;
      }
    }
    expect(refused, 'a write past the quota is refused').not.toBeNull();
    expect(stored).toBeGreaterThan(80);
    expect(((await refused!.json()) as { error: unknown }).error).toMatchObject({ code: 'quota_exceeded', quotaBytes: QUOTA });
    // The refused key was never written; reads, deletes and smaller values still pass.
    const missing = await fetch(`${node.client}/v1/kv/q/${stored}`, { signal: AbortSignal.timeout(5000) });
    expect(missing.status).toBe(404);
    expect((await putRetrying(node.client, 'q/0', 'small')).status).toBe(200);
    expect((await fetch(`${node.client}/v1/kv/q/1`, { method: 'DELETE', signal: AbortSignal.timeout(5000) })).status).toBe(200);
    expect((await putRetrying(node.client, `q/${stored}`, VALUE)).status).toBe(201);
    const metrics = await (await fetch(`${node.client}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    expect(metrics).toContain(`conflux_store_quota_bytes ${QUOTA}`);
    expect(metrics).toMatch(/^conflux_store_live_bytes \d+/m);
  }, 60_000);
});
