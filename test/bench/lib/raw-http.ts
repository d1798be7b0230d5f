// A minimal HTTP/1.1 keep-alive client for the load generator: one TCP connection per worker,
// each request written as one buffer, the response parsed just enough (status line, Content-Length
// or chunked body, Connection: close). Node's http client costs the generator more CPU per request
// than the servers under test spend on the simplest requests; on a 2-core machine that CPU is taken
// from the servers alike and hides their differences. Same wire traffic as any keep-alive client.
import net from 'node:net';
import type { Req, Res, Target } from './loadgen.js';

const CRLF = Buffer.from('\r\n');

/** Serialises a request (Host, Content-Length and the given headers). */
export function encodeRequest(r: Req): Buffer {
  const body = r.body === undefined ? null : typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
  let head = `${r.method} ${r.path} HTTP/1.1\r\nHost: ${r.target.host}:${r.target.port}\r\n`;
  for (const [name, value] of Object.entries(r.headers)) {
    if (value === undefined || name.toLowerCase() === 'content-length' || name.toLowerCase() === 'host') continue;
    head += `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}\r\n`;
  }
  if (body !== null || r.method === 'PUT' || r.method === 'POST') head += `Content-Length: ${body?.length ?? 0}\r\n`;
  head += '\r\n';
  const h = Buffer.from(head, 'latin1');
  return body === null ? h : Buffer.concat([h, body], h.length + body.length);
}

export class HttpParseError extends Error {}

/**
 * Incremental parser of HTTP/1.1 responses on one connection. `push` returns every response
 * completed by the chunk (usually zero or one).
 */
export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  /** Responses to a HEAD request have no body whatever their headers say. */
  headRequest = false;

  push(chunk: Buffer): { res: Res; close: boolean }[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: { res: Res; close: boolean }[] = [];
    for (;;) {
      const r = this.parseOne();
      if (r === null) break;
      out.push(r);
    }
    return out;
  }

  private parseOne(): { res: Res; close: boolean } | null {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = this.buf.subarray(0, end).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) throw new HttpParseError(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const status = Number(m[1]);
    let length = -1;
    let chunked = false;
    let close = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.toLowerCase().includes('chunked');
      else if (name === 'connection') close = value.toLowerCase() === 'close';
    }
    const bodyAt = end + 4;
    if (this.headRequest || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      this.buf = this.buf.subarray(bodyAt);
      return { res: { status, body: Buffer.alloc(0) }, close };
    }
    if (chunked) {
      const parts: Buffer[] = [];
      let at = bodyAt;
      for (;;) {
        const lineEnd = this.buf.indexOf(CRLF, at);
        if (lineEnd < 0) return null;
        const size = parseInt(this.buf.subarray(at, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) throw new HttpParseError('bad chunk size');
        const dataAt = lineEnd + 2;
        if (size === 0) {
          // No trailers expected: the terminating CRLF follows.
          if (this.buf.length < dataAt + 2) return null;
          this.buf = this.buf.subarray(dataAt + 2);
          return { res: { status, body: Buffer.concat(parts) }, close };
        }
        if (this.buf.length < dataAt + size + 2) return null;
        parts.push(this.buf.subarray(dataAt, dataAt + size));
        at = dataAt + size + 2;
      }
    }
    if (length < 0) {
      // Body until the connection closes: not something our servers send on keep-alive.
      throw new HttpParseError('response without Content-Length or chunked encoding');
    }
    if (this.buf.length < bodyAt + length) return null;
    const body = this.buf.subarray(bodyAt, bodyAt + length);
    this.buf = this.buf.subarray(bodyAt + length);
    return { res: { status, body }, close };
  }
}

/** One keep-alive connection, one request at a time (closed loop). Reconnects when needed. */
export class RawConnection {
  private socket: net.Socket | null = null;
  private parser = new ResponseParser();
  private waiting: { resolve: (r: Res) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;

  constructor(private readonly target: Target) {}

  request(r: Req, timeoutMs: number): Promise<Res> {
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    const socket = this.socket ?? this.connect();
    this.parser.headRequest = r.method === 'HEAD';
    return new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`request timed out after ${timeoutMs} ms`)), timeoutMs);
      this.waiting = { resolve, reject, timer };
      socket.write(encodeRequest(r));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    this.parser = new ResponseParser();
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      let done: { res: Res; close: boolean }[];
      try {
        done = this.parser.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const d of done) {
        const w = this.waiting;
        if (d.close) this.drop(socket);
        if (!w) continue;
        this.waiting = null;
        clearTimeout(w.timer);
        w.resolve(d.res);
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      if (this.socket === socket) this.fail(new Error('connection closed'));
    });
    return socket;
  }

  private drop(socket: net.Socket): void {
    if (this.socket === socket) this.socket = null;
    socket.destroy();
  }

  private fail(err: Error): void {
    if (this.socket) this.drop(this.socket);
    const w = this.waiting;
    this.waiting = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}

/**
 * The body of a chunked response, decoded incrementally: `push` returns the data bytes in the
 * chunk (possibly several pieces, possibly none), whatever the framing boundaries.
 */
export class ChunkedDecoder {
  /** Bytes of the current chunk still to pass on; -1 while reading a size line. */
  private remaining = -1;
  /** Bytes of CRLF still to skip after a chunk's data. */
  private skip = 0;
  private line = '';
  ended = false;

  push(buf: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < buf.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, buf.length - at);
        out.push(buf.subarray(at, at + n));
        this.remaining -= n;
        at += n;
        if (this.remaining === 0) {
          this.remaining = -1;
          this.skip = 2;
        }
        continue;
      }
      const lf = buf.indexOf(0x0a, at);
      if (lf < 0) {
        this.line += buf.subarray(at).toString('latin1');
        break;
      }
      this.line += buf.subarray(at, lf).toString('latin1');
      at = lf + 1;
      const size = parseInt(this.line.trim(), 16);
      this.line = '';
      if (!Number.isFinite(size) || size < 0) throw new HttpParseError('bad chunk size');
      if (size === 0) this.ended = true;
      else this.remaining = size;
    }
    return out;
  }
}

export interface RawStream {
  status: number;
  close(): void;
}

/**
 * A streaming request (a watch) on its own connection, parsed with a fraction of node:http's CPU
 * per event, so that thousands of watch streams in the generator do not hide the servers' delivery
 * delay behind the generator's own. Resolves once the response headers arrived; the body's bytes
 * (de-chunked) go to `onData` as they arrive.
 */
export function openRawStream(r: Req, onData: (chunk: Buffer) => void, timeoutMs: number): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: r.target.host, port: r.target.port, noDelay: true });
    let head: Buffer | null = Buffer.alloc(0);
    let decoder: ChunkedDecoder | null = null;
    const stream: RawStream = { status: 0, close: () => socket.destroy() };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`stream setup timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const body = (b: Buffer): void => {
      if (b.length === 0) return;
      if (decoder === null) onData(b);
      else for (const piece of decoder.push(b)) onData(piece);
    };
    socket.on('data', (chunk: Buffer) => {
      if (head === null) {
        try {
          body(chunk);
        } catch (err) {
          socket.destroy(err as Error);
        }
        return;
      }
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      const rest = head.subarray(end + 4);
      head = null;
      clearTimeout(timer);
      if (!m) {
        socket.destroy();
        reject(new HttpParseError(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`));
        return;
      }
      stream.status = Number(m[1]);
      if (lines.some((l) => /^transfer-encoding:.*chunked/i.test(l))) decoder = new ChunkedDecoder();
      resolve(stream);
      try {
        body(rest);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (head !== null) reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (head !== null) reject(new Error('connection closed before the response headers'));
    });
    socket.write(encodeRequest(r));
  });
}
