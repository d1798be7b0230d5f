// Peers talk over one long-lived request each way (`POST /raft/stream`): frames of messages, in
// order, no request per batch. Older peers without the stream path get requests per batch.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepRefusal } from '../../node/src/raft/core.js';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Message } from '../../node/src/raft/types.js';
import { systemClock } from '../../node/src/server/clock.js';
import { silentLogger, type Logger } from '../../node/src/server/logger.js';
import { encodeStreamFrame, PeerCodecError, StreamFrameReader } from '../../node/src/server/peer-codec.js';
import { createPeerRequestListener } from '../../node/src/server/peer-server.js';
import { PeerTransport } from '../../node/src/server/transport.js';

const env = { clusterId: 'c', from: 'a', fromIncarnation: 'ia', to: 'b', toIncarnation: 'ib', term: 3 };
const heartbeat = (commit: number): Message => ({ ...env, type: 'heartbeat', commit, readSeq: commit });
const append = (index: number, bytes: number): Message => ({
  ...env,
  type: 'append',
  prevIndex: index - 1,
  prevTerm: 3,
  commit: index - 1,
  entries: [{ index, term: 3, kind: 'normal', data: new Uint8Array(bytes).fill(index & 0xff) }],
});

describe('StreamFrameReader', () => {
  it('gives back every frame whole, however the stream is cut', () => {
    const frames = [encodeStreamFrame([heartbeat(1)]), encodeStreamFrame([append(2, 300), heartbeat(2)]), encodeStreamFrame([append(3, 0)])];
    const stream = Buffer.concat(frames);
    for (const size of [1, 2, 3, 5, 7, 64, stream.length]) {
      const reader = new StreamFrameReader(1 << 20);
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) out.push(...reader.push(stream.subarray(at, at + size)));
      expect(out.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.subarray(4).toString('hex')));
    }
  });

  it('refuses a frame over the limit as soon as its length is known', () => {
    const reader = new StreamFrameReader(100);
    const big = encodeStreamFrame([append(1, 200)]);
    expect(() => reader.push(big.subarray(0, 4))).toThrow(PeerCodecError);
  });
});

interface Peer {
  url: string;
  stepped: Message[];
  requests: string[];
  server: http.Server;
}

const servers: http.Server[] = [];
const transports: PeerTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function peer(options: { streams?: boolean; refuse?: (m: Message) => StepRefusal | null } = {}): Promise<Peer> {
  const stepped: Message[] = [];
  const requests: string[] = [];
  const listener = createPeerRequestListener({
    handler: {
      step: (m) => {
        stepped.push(m);
        return options.refuse?.(m) ?? null;
      },
      receiveSnapshotChunk: async () => null,
    },
    logger: silentLogger,
  });
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    // An older node: no stream path (404, like any unknown peer route).
    if (options.streams === false && req.url === '/raft/stream') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"not_found","message":"no peer route /raft/stream"}}');
      return;
    }
    listener(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stepped, requests, server };
}

function transport(p: Peer, logger: Logger = silentLogger): PeerTransport {
  const t = new PeerTransport({ resolve: () => p.url, onUnreachable: () => undefined, clock: systemClock, rng: seededRng(1), logger });
  transports.push(t);
  return t;
}

async function until(what: string, f: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('peer streams', () => {
  it('carry every message in order over one request, a turn of sends in one frame', async () => {
    const p = await peer();
    const t = transport(p);
    const sent: Message[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 5; i++) {
        const m = round % 2 ? heartbeat(round * 10 + i) : append(round * 10 + i + 1, 100 + i);
        sent.push(m);
        t.send(m);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await until('every message', () => p.stepped.length === sent.length);
    expect(p.stepped).toEqual(sent);
    expect(p.requests).toEqual(['/raft/stream']);
  });

  it('report refusals on the answer, logged by the sender, and keep going', async () => {
    const p = await peer({ refuse: (m) => (m.type === 'heartbeat' && m.commit === 2 ? { reason: 'cluster_mismatch', detail: 'another cluster' } : null) });
    const warnings: unknown[] = [];
    const t = transport(p, { ...silentLogger, warn: (msg: string, meta?: unknown) => warnings.push([msg, meta]) });
    for (const c of [1, 2, 3]) t.send(heartbeat(c));
    await until('a warning', () => warnings.length === 1);
    expect(JSON.stringify(warnings[0])).toContain('cluster_mismatch');
    t.send(heartbeat(4));
    await until('the next message on the same stream', () => p.stepped.length === 4);
    expect(p.requests).toEqual(['/raft/stream']);
  });

  it('fall back to one request per batch when the peer has no stream path', async () => {
    const p = await peer({ streams: false });
    const t = transport(p);
    t.send(append(1, 10));
    await new Promise((r) => setTimeout(r, 100));
    // What was written on the refused stream is lost (Raft retransmits); what follows arrives.
    t.send(append(2, 10));
    t.send(heartbeat(2));
    await until('messages over requests', () => p.stepped.some((m) => m.type === 'heartbeat'));
    expect(p.requests[0]).toBe('/raft/stream');
    expect(p.requests.slice(1)).toEqual(['/raft/append_entries']);
    expect(p.stepped.map((m) => m.type)).toEqual(['append', 'heartbeat']);
  });

  it('open a new stream after the peer went away and came back', async () => {
    const p = await peer();
    const unreachable: string[] = [];
    const t = new PeerTransport({ resolve: () => p.url, onUnreachable: (id) => unreachable.push(id), clock: systemClock, rng: seededRng(2), logger: silentLogger });
    transports.push(t);
    t.send(heartbeat(1));
    await until('the first message', () => p.stepped.length === 1);
    p.server.closeAllConnections();
    await until('the sender to notice', () => unreachable.length > 0);
    for (let i = 0; i < 50 && p.stepped.length < 2; i++) {
      t.send(heartbeat(2 + i));
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('a message on a new stream', () => p.stepped.length >= 2);
    expect(p.requests.filter((r) => r === '/raft/stream').length).toBe(2);
  });
});
