// docs/runbooks.md, "Upgrade", with real node processes: a rolling restart (followers first, then
// a leadership transfer and the old leader) while writes go on loses no acknowledged write; a data
// directory of a newer format is refused with both versions named and left as it was, and the
// node starts again once the directory is one it reads.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATA_DIR_FORMAT, DATA_DIR_FORMAT_MIN, META_FILE } from '../../node/src/storage/data-dir.js';
import { get, ProcessCluster, put, waitFor, type ProcNode } from '../support/process-cluster.js';

const cliBin = resolve(import.meta.dirname, '../../dist/node/src/cli/conflux.js');

let cluster: ProcessCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

function conflux(endpoint: string, args: string[]): Promise<number> {
  return new Promise((done) => {
    execFile(process.execPath, [cliBin, '--endpoints', endpoint, ...args], { timeout: 60_000 }, (err) => done(err === null ? 0 : 1));
  });
}

async function ready(n: ProcNode): Promise<boolean> {
  try {
    return (await fetch(`${n.client}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
  } catch {
    return false;
  }
}

async function isLeader(n: ProcNode): Promise<boolean> {
  try {
    const r = await fetch(`${n.client}/admin/status`, { signal: AbortSignal.timeout(2000) });
    return r.ok && ((await r.json()) as { role: string }).role === 'leader';
  } catch {
    return false;
  }
}

describe('upgrade (docs/runbooks.md: Upgrade)', () => {
  it('rolling restart under writes loses nothing; a newer data format is refused and left untouched', async () => {
    cluster = new ProcessCluster();
    const c = cluster;
    const nodes = await c.startStatic(['a', 'b', 'c']);
    await c.leader(30_000);

    // One key per write, through whichever nodes run; only 200/201 counts as acknowledged.
    const acked = new Map<string, string>();
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        const targets = c.running();
        const n = targets[i % Math.max(1, targets.length)];
        if (n === undefined) break;
        try {
          const r = await put(n.client, `up/k${i}`, `v${i}`);
          if (r.status === 200 || r.status === 201) acked.set(`up/k${i}`, `v${i}`);
          else await new Promise((res) => setTimeout(res, 50));
        } catch {
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    })();

    const restart = async (n: ProcNode) => {
      const before = acked.size;
      await c.kill(n.id, 'SIGTERM');
      c.start(n.id);
      await waitFor(`${n.id} ready again`, () => ready(n), 30_000);
      await waitFor('writes go on', () => acked.size > before + 5, 30_000);
    };
    const leaderId = await c.leader(30_000);
    for (const n of nodes.filter((x) => x.id !== leaderId)) await restart(n);
    const oldLeader = c.node(leaderId);
    expect(await conflux(oldLeader.client, ['leader', 'transfer'])).toBe(0);
    await waitFor('leadership moved', async () => !(await isLeader(oldLeader)), 15_000);
    await restart(oldLeader);
    writing = false;
    await writes;
    expect(acked.size).toBeGreaterThan(20);
    const anyNode = c.node(await c.leader(30_000));
    for (const [key, value] of acked) {
      const r = await get(anyNode.client, key);
      expect({ key, status: r.status, value: await r.text() }).toEqual({ key, status: 200, value });
    }

    // A directory written by a newer format: refused, not touched.
    const b = c.node('b');
    await c.kill(b.id, 'SIGTERM');
    const metaPath = join(b.dataDir, META_FILE);
    const original = readFileSync(metaPath, 'utf8');
    const newer = `${JSON.stringify({ ...(JSON.parse(original) as Record<string, unknown>), formatVersion: DATA_DIR_FORMAT + 1 }, null, 2)}\n`;
    writeFileSync(metaPath, newer);
    c.start(b.id);
    const [code] = (await once(b.proc!, 'exit')) as [number | null];
    expect(code).toBe(1);
    const log = await c.logs(b.id);
    expect(log).toContain(
      `data format ${DATA_DIR_FORMAT + 1} was written by a newer Conflux; this binary reads formats ${DATA_DIR_FORMAT_MIN} to ${DATA_DIR_FORMAT}`,
    );
    expect(readFileSync(metaPath, 'utf8')).toBe(newer);

    // Back to a format it reads (the newer version's directory restored): it rejoins.
    writeFileSync(metaPath, original);
    c.start(b.id);
    await waitFor('b ready after the refused start', () => ready(b), 30_000);
  }, 300_000);
});
