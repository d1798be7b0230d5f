// Raw HTTP/1.1 over a TCP socket: the fuzzer sends exactly the bytes it built (invalid UTF-8 in the
// request line, broken chunking, lying Content-Length) and parses whatever comes back.
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type RawOutcome =
  | { kind: 'response'; response: RawResponse }
  /** The server closed (or reset) the connection without a complete response. */
  | { kind: 'closed'; bytes: number; error?: string }
  /** Nothing complete arrived before the deadline (we closed the socket). */
  | { kind: 'timeout'; bytes: number };

export interface RawOptions {
  timeoutMs: number;
  /** Send the bytes in pieces, `delayMs` apart (a slow client). */
  pieces?: { size: number; delayMs: number };
  /** Stop after sending this many bytes of the request and keep the socket open (truncation). */
  truncateAt?: number;
}

export function rawExchange(port: number, bytes: Buffer, o: RawOptions): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (outcome: RawOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const tryParse = (final: boolean): void => {
      const data = Buffer.concat(chunks);
      const parsed = parseResponse(data);
      if (parsed !== null) return finish({ kind: 'response', response: parsed });
      if (final) finish({ kind: 'closed', bytes: data.length });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', bytes: received }), o.timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const data = Buffer.concat(chunks);
      const parsed = parseResponse(data);
      if (parsed !== null) finish({ kind: 'response', response: parsed });
      else finish({ kind: 'closed', bytes: data.length, error: err.code ?? err.message });
    });
    socket.on('connect', () => {
      const payload = o.truncateAt === undefined ? bytes : bytes.subarray(0, o.truncateAt);
      if (!o.pieces) {
        socket.write(payload);
        return;
      }
      const { size, delayMs } = o.pieces;
      let at = 0;
      const step = (): void => {
        if (settled || socket.destroyed) return;
        socket.write(payload.subarray(at, at + size));
        at += size;
        if (at < payload.length) setTimeout(step, delayMs);
      };
      step();
    });
  });
}

/** A complete response in `data`, or null if more bytes are needed. */
export function parseResponse(data: Buffer): RawResponse | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = data.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = data.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return null;
    return { status: Number(m[1]), headers, body: rest.subarray(0, n) };
  }
  if ((headers['transfer-encoding'] ?? '').toLowerCase() === 'chunked') {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) return null;
      if (size === 0) return { status: Number(m[1]), headers, body: Buffer.concat(body) };
      if (rest.length < lineEnd + 2 + size + 2) return null;
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  // No framing: the body runs to the end of the connection; the caller calls again on close.
  return null;
}

/** Builds a request; `Host` and `Connection: close` are added unless given. */
export function buildRequest(method: string, target: string | Buffer, headers: [string, string | Buffer][] = [], body?: Buffer, contentLength: 'auto' | 'none' = 'auto'): Buffer {
  const lines: Buffer[] = [Buffer.concat([Buffer.from(`${method} `), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'), Buffer.from(' HTTP/1.1\r\n')])];
  const names = new Set(headers.map(([n]) => n.toLowerCase()));
  if (!names.has('host')) lines.push(Buffer.from('Host: 127.0.0.1\r\n'));
  if (!names.has('connection')) lines.push(Buffer.from('Connection: close\r\n'));
  if (contentLength === 'auto' && !names.has('content-length') && !names.has('transfer-encoding')) {
    lines.push(Buffer.from(`Content-Length: ${body?.length ?? 0}\r\n`));
  }
  for (const [name, value] of headers) lines.push(Buffer.concat([Buffer.from(`${name}: `), Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'), Buffer.from('\r\n')]));
  lines.push(Buffer.from('\r\n'));
  if (body) lines.push(body);
  return Buffer.concat(lines);
}
