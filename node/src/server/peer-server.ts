// The peer port: Raft RPCs only (design section 3, Peer API). Plain node:http rather than express:
// this is the replication hot path and needs no routing beyond five paths.
//
// `POST /raft/stream` is how nodes talk to each other: one long-lived request per sender, its body
// a sequence of `u32be length | frame` (peer-codec.ts), every message stepped as its frame arrives.
// The answer is 200 at once, then one JSON line per refused message or bad frame (what the other
// paths say with their status). The per-message paths stay for older peers and for tools.
import http from 'node:http';
import type { StepRefusal } from '../raft/core.js';
import type { Message } from '../raft/types.js';
import { messageProblem } from '../raft/validate.js';
import { SnapshotChecksumError, StaleSnapshotError } from '../storage/errors.js';
import { endpointOf, PEER_URL_HEADER } from './transport.js';
import { decodeMessages, PeerCodecError, StreamFrameReader } from './peer-codec.js';
import { decodeSnapshotChunk } from './snapshot-chunk.js';
import type { Logger } from './logger.js';
import { tokensEqual } from './tokens.js';

export interface PeerHandler {
  step(msg: Message): StepRefusal | null;
  receiveSnapshotChunk(envelope: Extract<Message, { type: 'snapshot' }>, offset: number, data: Uint8Array, done: boolean, size: number, checksum: number): Promise<StepRefusal | null>;
}

export interface PeerServerOptions {
  handler: PeerHandler;
  /** The sender's advertised peer URL (request header), for peers the configuration does not name yet. */
  onPeerAddress?: (id: string, peerURL: string) => void;
  logger: Logger;
  peerToken?: string;
  /** Largest request body accepted (an append batch or a snapshot chunk). */
  maxBodyBytes?: number;
}

export const PEER_STREAM_PATH = '/raft/stream';
/** How often a stream's answer carries an empty line (the sender's liveness check). */
export const STREAM_KEEPALIVE_MS = 1000;

const paths = new Set(['/raft/append_entries', '/raft/vote', '/raft/install_snapshot', '/raft/timeout_now', PEER_STREAM_PATH]);

export function createPeerRequestListener(o: PeerServerOptions): http.RequestListener {
  const maxBody = o.maxBodyBytes ?? 64 * 1024 * 1024;
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (!paths.has(path)) return sendError(res, 404, 'not_found', `no peer route ${path}`);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed on ${path}`);
    }
    if (o.peerToken !== undefined) {
      const auth = req.headers.authorization ?? '';
      const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!tokensEqual(token, o.peerToken)) return sendError(res, 401, 'unauthorized', 'a valid peer token is required');
    }
    if (path === PEER_STREAM_PATH) return serveStream(o, req, res, maxBody);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) return sendError(res, 413, 'too_large', `peer request over ${maxBody} bytes`);
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        sendError(res, 413, 'too_large', `peer request over ${maxBody} bytes`);
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (res.headersSent) return;
      const peerURL = req.headers[PEER_URL_HEADER];
      handle(o, path, Buffer.concat(parts), res, typeof peerURL === 'string' ? peerURL : undefined).catch((err: unknown) => {
        o.logger.error('peer request failed', { path, error: String(err) });
        if (!res.headersSent) sendError(res, 500, 'internal', 'the peer request failed');
      });
    });
  };
}

async function handle(o: PeerServerOptions, path: string, body: Buffer, res: http.ServerResponse, peerURL: string | undefined): Promise<void> {
  if (path === '/raft/install_snapshot') {
    let chunk;
    try {
      chunk = decodeSnapshotChunk(body);
    } catch (err) {
      return badFrame(o, res, err);
    }
    const { header, data } = chunk;
    const { offset, done, size, checksum, ...envelope } = header;
    // The envelope must be a well-formed snapshot message before anything is written to disk.
    const problem = messageProblem(envelope);
    if (problem !== null) return sendError(res, 400, 'malformed', `snapshot chunk: ${problem}`);
    try {
      const refusal = await o.handler.receiveSnapshotChunk(envelope, offset, data, done, size, checksum);
      if (refusal) return refused(res, refusal);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ nextOffset: offset + data.byteLength }));
    } catch (err) {
      const expected = (err as { expectedOffset?: number }).expectedOffset;
      if (typeof expected === 'number') return sendError(res, 409, 'wrong_offset', String((err as Error).message), { expectedOffset: expected });
      // What the sender announced does not match what it sent: its fault, nothing was published.
      if (err instanceof SnapshotChecksumError) return sendError(res, 400, 'bad_snapshot', err.message);
      if (err instanceof StaleSnapshotError) return sendError(res, 409, 'stale_snapshot', err.message);
      throw err;
    }
    return;
  }
  let messages: Message[];
  try {
    messages = decodeMessages(body);
  } catch (err) {
    return badFrame(o, res, err);
  }
  const sender = messages[0]?.from;
  if (peerURL && typeof sender === 'string') o.onPeerAddress?.(sender, peerURL);
  let firstRefusal: StepRefusal | null = null;
  for (const m of messages) {
    if (endpointOf(m) !== path) {
      firstRefusal ??= { reason: 'malformed', detail: `message type ${String((m as { type?: unknown }).type)} does not belong on ${path}` };
      continue;
    }
    firstRefusal ??= o.handler.step(m);
  }
  if (firstRefusal) return refused(res, firstRefusal);
  res.writeHead(204);
  res.end();
}

/** A peer's stream of frames: step every message as its frame completes; report refusals as lines. */
function serveStream(o: PeerServerOptions, req: http.IncomingMessage, res: http.ServerResponse, maxFrameBytes: number): void {
  const reader = new StreamFrameReader(maxFrameBytes);
  const peerURL = req.headers[PEER_URL_HEADER];
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  const report = (status: number, code: string, message: string): void => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ status, error: { code, message } })}\n`);
  };
  // An empty line every second tells the sender that this end is alive (it drops silent streams).
  const keepAlive = setInterval(() => {
    if (!res.writableEnded && !res.writableNeedDrain) res.write('\n');
  }, STREAM_KEEPALIVE_MS);
  keepAlive.unref();
  res.on('close', () => clearInterval(keepAlive));
  req.on('data', (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      // A length over the limit: the stream cannot be resynchronised.
      o.logger.warn('peer stream refused: bad frame', { detail: (err as Error).message });
      report(413, 'too_large', (err as Error).message);
      res.end();
      req.destroy();
      return;
    }
    for (const frame of frames) {
      let messages: Message[];
      try {
        messages = decodeMessages(frame);
      } catch (err) {
        const message = err instanceof PeerCodecError ? err.message : 'unreadable frame';
        o.logger.warn('peer request refused: bad frame', { detail: message });
        report(400, 'bad_frame', message);
        continue;
      }
      const sender = messages[0]?.from;
      if (typeof peerURL === 'string' && typeof sender === 'string') o.onPeerAddress?.(sender, peerURL);
      for (const m of messages) {
        let refusal: StepRefusal | null;
        try {
          // Snapshots travel with their data on /raft/install_snapshot, never on a stream.
          refusal = m.type === 'snapshot' ? { reason: 'malformed', detail: 'snapshot messages belong on /raft/install_snapshot' } : o.handler.step(m);
        } catch (err) {
          // What a 500 says on the other paths: the sender backs off and opens a new stream.
          o.logger.error('peer request failed', { path: PEER_STREAM_PATH, error: String(err) });
          res.end();
          req.destroy();
          return;
        }
        if (refusal) report(refusal.reason === 'malformed' ? 400 : 409, refusal.reason, refusal.detail);
      }
    }
  });
  req.on('error', () => undefined);
  req.on('end', () => res.end());
}

function badFrame(o: PeerServerOptions, res: http.ServerResponse, err: unknown): void {
  const message = err instanceof PeerCodecError ? err.message : 'unreadable frame';
  o.logger.warn('peer request refused: bad frame', { detail: message });
  sendError(res, 400, 'bad_frame', message);
}

/** Refusals are logged by the driver (a core event); the status tells the sender what happened. */
function refused(res: http.ServerResponse, r: StepRefusal): void {
  sendError(res, r.reason === 'malformed' ? 400 : 409, r.reason, r.detail);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string, details: Record<string, unknown> = {}): void {
  if (res.headersSent) return;
  const body = JSON.stringify({ error: { code, message, ...details } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
