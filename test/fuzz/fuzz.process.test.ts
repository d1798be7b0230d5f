// Fuzzing a real conflux-node process (issue 6, hostile input): seeded random and malformed
// requests at the client, admin and peer APIs (bad JSON, wrong types, huge headers and bodies,
// invalid UTF-8 keys, negative and enormous revisions, truncated and forged snapshot chunks, slow
// clients). The node must never crash, never change its data or its term, and answer every
// complete request with a 4xx carrying the JSON error shape.
//
// FUZZ_SEED fixes the seed (printed either way), FUZZ_CASES the number of cases (default 900).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../node/src/raft/rng.js';
import { ProcessCluster, putRetrying, type ProcNode } from '../support/process-cluster.js';
import { adminCases, clientCases, peerCases, slowCases, type FuzzCase, type FuzzTarget } from './cases.js';
import { buildRequest, rawExchange, type RawOutcome } from './raw-http.js';

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const total = process.env.FUZZ_CASES ? Number(process.env.FUZZ_CASES) : 900;
const MAX_VALUE = 4096;

let cluster: ProcessCluster;
let node: ProcNode;
let target: FuzzTarget;
let before: Snapshot;

interface Snapshot {
  listing: unknown;
  revision: number;
  term: number;
  role: string;
  members: unknown;
}

/** GET a JSON answer; anything but a 200 fails with what the node said (a read must never fail). */
async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(`${node.client}${path}`, { signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function snapshot(): Promise<Snapshot> {
  const list = await getJson<{ revision: number; items: unknown[] }>('/v1/kv?prefix=&consistency=serializable');
  const status = await getJson<{ term: number; role: string }>('/admin/status');
  const members = await getJson<unknown>('/admin/members?local=true');
  return { listing: list.items, revision: list.revision, term: status.term, role: status.role, members };
}

/** What differs between two snapshots, one line per field, so that a failure names the change. */
function changes(a: Snapshot, b: Snapshot): string[] {
  return (Object.keys(a) as (keyof Snapshot)[])
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${String(JSON.stringify(a[k])).slice(0, 400)} -> ${String(JSON.stringify(b[k])).slice(0, 400)}`);
}

/** The oracle: a problem description, or null when the answer is acceptable. */
function judge(c: FuzzCase, o: RawOutcome): string | null {
  if (c.expect === 'stream') {
    if (o.kind !== 'response') return `no answer on the stream (${o.kind})`;
    const { status, headers, body } = o.response;
    if (status !== 200 || !(headers['content-type'] ?? '').startsWith('application/x-ndjson')) return `stream answered ${status} ${headers['content-type']}`;
    const lines = body.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) return 'a stream of refusable frames got no refusal line';
    for (const line of lines) {
      try {
        const r = JSON.parse(line) as { status?: unknown; error?: { code?: unknown; message?: unknown } };
        if (typeof r.status !== 'number' || r.status < 400 || r.status > 499) return `stream line with status ${String(r.status)}: ${line.slice(0, 200)}`;
        if (typeof r.error?.code !== 'string' || typeof r.error.message !== 'string') return `stream line without the error shape: ${line.slice(0, 200)}`;
      } catch {
        return `stream line that is not JSON: ${line.slice(0, 100)}`;
      }
    }
    return null;
  }
  if (o.kind === 'response') {
    const { status, headers, body } = o.response;
    if (c.expect === 'cut' && status === 408) return null;
    if (status < 400 || status > 499) return `answered ${status}: ${body.toString('utf8').slice(0, 200)}`;
    if (!(headers['content-type'] ?? '').startsWith('application/json')) return `${status} with content type ${headers['content-type']}`;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
      if (typeof parsed.error?.code !== 'string' || typeof parsed.error.message !== 'string') return `${status} without the error shape: ${body.toString('utf8').slice(0, 200)}`;
    } catch {
      return `${status} with a body that is not JSON: ${body.toString('utf8').slice(0, 100)}`;
    }
    return null;
  }
  if (c.expect === 'cut') return null;
  return `no answer (${o.kind}${o.kind === 'closed' && o.error ? `: ${o.error}` : ''})`;
}

async function runAll(cases: FuzzCase[], concurrency: number): Promise<{ problems: string[]; byApi: Record<string, number>; statuses: Record<string, number> }> {
  const problems: string[] = [];
  const byApi: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const port = c.api === 'peer' ? node.peerPort : node.clientPort;
        const outcome = await rawExchange(port, c.bytes, { timeoutMs: 5000, ...c.options });
        byApi[c.api] = (byApi[c.api] ?? 0) + 1;
        const key = outcome.kind === 'response' ? String(outcome.response.status) : outcome.kind;
        statuses[key] = (statuses[key] ?? 0) + 1;
        const problem = judge(c, outcome);
        if (problem !== null && problems.length < 50) problems.push(`[${c.api}] ${c.name}: ${problem}`);
      }
    }),
  );
  return { problems, byApi, statuses };
}

beforeAll(async () => {
  cluster = new ProcessCluster();
  [node] = (await cluster.define(['fz'])) as [ProcNode];
  cluster.start('fz', ['--bootstrap', '--max-value-bytes', String(MAX_VALUE)]);
  await cluster.leader(15_000);
  for (const [k, v] of [['fuzz/existing', 'original'], ['fuzz/a', 'A'], ['fuzz/b', 'B'], ['other/x', 'X']]) {
    expect((await putRetrying(node.client, k!, v!)).status).toBe(201);
  }
  const status = (await cluster.status('fz'))!;
  target = { nodeId: 'fz', clusterId: status.clusterId, incarnation: status.incarnation, term: status.term, maxValueBytes: MAX_VALUE, existingKey: 'fuzz/existing' };
  before = await snapshot();
});

afterAll(async () => {
  await cluster.destroy();
});

describe(`fuzzing a real node (FUZZ_SEED=${seed}, ${total} cases)`, () => {
  it('answers every malformed client, admin and peer request with a 4xx JSON error, and nothing changes', async () => {
    const rng = seededRng(seed);
    const share = Math.floor(total / 10);
    const cases = [
      ...clientCases(rng, target, share * 4),
      ...adminCases(rng, target, share * 2),
      ...peerCases(rng, target, share * 3),
      ...slowCases(rng, target, total - share * 9),
    ];
    // Shuffle (seeded) so that slow and fast cases interleave.
    for (let i = cases.length - 1; i > 0; i--) {
      const j = rng.int(0, i + 1);
      [cases[i], cases[j]] = [cases[j]!, cases[i]!];
    }
    const { problems, byApi, statuses } = await runAll(cases, 8);
    console.log(`fuzz seed ${seed}: ${cases.length} cases (${JSON.stringify(byApi)}), answers ${JSON.stringify(statuses)}`);
    expect(problems, `FUZZ_SEED=${seed}`).toEqual([]);
    expect(cluster.running().map((n) => n.id), 'the node is still running').toEqual(['fz']);
    const changed = changes(before, await snapshot());
    if (changed.length > 0) console.log(`node log after the change:\n${(await cluster.logs('fz')).split('\n').slice(-60).join('\n')}`);
    expect(changed, `data, term or members changed (FUZZ_SEED=${seed}): ${changed.join('; ')}`).toEqual([]);
    expect(await cluster.logs('fz')).not.toContain('unexpected error');
  }, 240_000);

  it('slow clients on both ports do not hold up anyone else, and leave nothing behind', async () => {
    const slow: Promise<RawOutcome>[] = [];
    const partial = buildRequest('PUT', '/v1/kv/fuzz/slowloris', [['Content-Length', '1000']], Buffer.alloc(400, 0x61));
    for (let i = 0; i < 30; i++) {
      slow.push(rawExchange(node.clientPort, partial, { timeoutMs: 4000, pieces: { size: 10, delayMs: 100 } }));
      slow.push(rawExchange(node.peerPort, buildRequest('POST', '/raft/append_entries', [['Content-Length', '5000']], Buffer.alloc(400, 1)), { timeoutMs: 4000, pieces: { size: 10, delayMs: 100 } }));
    }
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      const r = await fetch(`${node.client}/v1/kv/fuzz/existing`, { signal: AbortSignal.timeout(3000) });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('original');
      latencies.push(Date.now() - started);
      await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(slow);
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length * 0.9)]!, `p90 of reads during 60 slow connections: ${latencies.join(',')}`).toBeLessThan(1000);
    expect(cluster.running().map((n) => n.id)).toEqual(['fz']);
    expect(changes(before, await snapshot())).toEqual([]);
  }, 60_000);
});
