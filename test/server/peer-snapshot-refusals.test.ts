// The peer port refuses snapshot chunks that are not well-formed snapshot messages before anything
// reaches the disk, and answers 4xx (not 500) when what the sender announced does not match what
// it sent (found by the fuzz test: a bad checksum, a lying size or a malformed meta gave 500).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../node/src/server/logger.js';
import { createPeerRequestListener } from '../../node/src/server/peer-server.js';
import { encodeSnapshotChunk } from '../../node/src/server/snapshot-chunk.js';
import { SnapshotChecksumError, StaleSnapshotError } from '../../node/src/storage/errors.js';

let server: http.Server;
let url: string;
let received = 0;
let failWith: Error | null = null;

beforeAll(async () => {
  server = http.createServer(
    createPeerRequestListener({
      handler: {
        step: () => null,
        receiveSnapshotChunk: async () => {
          received++;
          if (failWith) throw failWith;
          return null;
        },
      },
      logger: silentLogger,
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/raft/install_snapshot`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  received = 0;
  failWith = null;
});

const envelope = {
  type: 'snapshot',
  clusterId: 'c',
  from: 'leader',
  fromIncarnation: 'i1',
  to: 'me',
  toIncarnation: '',
  term: 3,
  meta: { index: 10, term: 3, membership: { members: [] } },
};
const chunk = (over: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  encodeSnapshotChunk({ ...envelope, ...over, offset: 0, done: true, size: 3, checksum: 1, ...extra } as never, new Uint8Array([1, 2, 3]));

async function send(body: Buffer): Promise<{ status: number; code: string }> {
  const r = await fetch(url, { method: 'POST', body });
  const text = await r.text();
  return { status: r.status, code: r.status === 200 ? '' : (JSON.parse(text) as { error: { code: string } }).error.code };
}

describe('install_snapshot refusals', () => {
  it.each([
    ['no meta', { meta: null }],
    ['a meta without positions', { meta: { membership: { members: [] } } }],
    ['a negative meta index', { meta: { index: -1, term: 1, membership: { members: [] } } }],
    ['a membership that is not a list', { meta: { index: 1, term: 1, membership: 'x' } }],
    ['no sender', { from: '' }],
    ['a term that is not an integer', { term: 1.5 }],
    ['a cluster id that is not a string', { clusterId: 7 }],
  ])('a chunk with %s is refused with 400 before it is received', async (_what, over) => {
    expect(await send(chunk(over))).toEqual({ status: 400, code: 'malformed' });
    expect(received).toBe(0);
  });

  it('a well-formed chunk reaches the receiver', async () => {
    expect(await send(chunk({}))).toEqual({ status: 200, code: '' });
    expect(received).toBe(1);
  });

  it('a checksum or size that does not match is the sender\'s fault: 400 bad_snapshot', async () => {
    failWith = new SnapshotChecksumError('snapshot has 3 bytes, the sender announced 9');
    expect(await send(chunk({}))).toEqual({ status: 400, code: 'bad_snapshot' });
  });

  it('a snapshot older than the one we have: 409 stale_snapshot', async () => {
    failWith = new StaleSnapshotError(10, 20);
    expect(await send(chunk({}))).toEqual({ status: 409, code: 'stale_snapshot' });
  });
});
