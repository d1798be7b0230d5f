// Hostile and malformed input against a real node process: it answers 4xx with the JSON error
// shape, stays up, and no data changes.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessages } from '../../node/src/server/peer-codec.js';
import { get, ProcessCluster, put, putRetrying } from '../support/process-cluster.js';

let cluster: ProcessCluster;
let client: string;
let peer: string;
let revisionBefore = 0;

beforeAll(async () => {
  cluster = new ProcessCluster();
  const [a] = await cluster.define(['a']);
  cluster.start('a', ['--bootstrap', '--max-value-bytes', '1024']);
  client = a!.client;
  peer = a!.peerURL;
  await cluster.leader();
  expect((await putRetrying(client, 'safe/key', 'original')).status).toBe(201);
  revisionBefore = Number((await get(client, 'safe/key')).headers.get('conflux-revision'));
});

afterAll(async () => {
  await cluster.destroy();
});

function rawPut(key: string, value: string): Promise<{ status: number; body: string }> {
  const u = new URL(client);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'PUT', path: `/v1/kv/${key}` }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(value);
  });
}

async function expectJsonError(r: Response, status: number): Promise<string> {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await r.json()) as { error?: { code?: string; message?: string } };
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
  return body.error!.code!;
}

describe('bad input never crashes a node or changes data', () => {
  it('oversized values get 413; a value of exactly the limit is accepted', async () => {
    await expectJsonError(await put(client, 'big', 'x'.repeat(1025)), 413);
    expect((await put(client, 'exact', 'x'.repeat(1024))).status).toBe(201);
  });

  it('invalid keys get 400', async () => {
    // Sent with node:http: fetch (WHATWG URL) would normalise dot segments away before sending.
    for (const key of ['a//b', 'a/../b', 'a/./b', 'a/%2E%2E/b', '%00x', 'k'.repeat(1025)]) {
      const r = await rawPut(key, 'v');
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe('invalid_key');
    }
    expect((await put(client, 'k'.repeat(1024), 'v')).status).toBe(201);
  });

  it('unknown routes get 404 and wrong methods 405, both as JSON', async () => {
    await expectJsonError(await fetch(`${client}/v2/nothing`), 404);
    const r = await fetch(`${client}/v1/kv/safe/key`, { method: 'PATCH', body: 'x' });
    await expectJsonError(r, 405);
    expect(r.headers.get('allow')).toBeTruthy();
  });

  it('malformed admin JSON gets 400', async () => {
    const r = await fetch(`${client}/admin/members`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id": ' });
    await expectJsonError(r, 400);
  });

  it('garbage peer frames get 400 and wrong-cluster messages 409, and are logged', async () => {
    const garbage = await fetch(`${peer}/raft/append_entries`, { method: 'POST', body: Buffer.from('not a frame at all') });
    await expectJsonError(garbage, 400);
    const foreign = encodeMessages([
      { type: 'heartbeat', commit: 0, readSeq: 0, clusterId: 'someone-else', from: 'x', fromIncarnation: 'i', to: 'a', toIncarnation: '', term: 999 },
    ]);
    await expectJsonError(await fetch(`${peer}/raft/append_entries`, { method: 'POST', body: foreign }), 409);
    const wrongPath = await fetch(`${peer}/raft/nothing`, { method: 'POST', body: 'x' });
    await expectJsonError(wrongPath, 404);
    await expectJsonError(await fetch(`${peer}/raft/vote`), 405);
    const status = (await (await fetch(`${client}/admin/status`)).json()) as { term: number; role: string };
    expect(status.term).toBeLessThan(999);
    expect(status.role).toBe('leader');
    expect(await cluster.logs('a')).toContain('cluster_mismatch');
  });

  it('the node is still up and the data is unchanged', async () => {
    const r = await get(client, 'safe/key');
    expect(await r.text()).toBe('original');
    // Only the accepted writes above (the exact-limit value and the 1024-byte key) changed the store.
    expect(Number(r.headers.get('conflux-revision'))).toBe(revisionBefore + 2);
    expect(cluster.running().map((n) => n.id)).toEqual(['a']);
  });
});
