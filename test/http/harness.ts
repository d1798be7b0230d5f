// Runs the client-port app on 127.0.0.1 with an ephemeral port, and a logger that records lines.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import {
  attachClientErrorHandler,
  createClientServerApp,
  type ClientServerApp,
  type ClientServerAppOptions,
} from '../../node/src/server/http/index.js';
import type { HttpLogger } from '../../node/src/server/http/types.js';
import { FakeNode } from './fake-node.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  meta: Record<string, unknown>;
}

export class RecordingLogger implements HttpLogger {
  readonly lines: LogLine[] = [];
  debug(message: string, meta: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'debug', message, meta });
  }
  info(message: string, meta: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'info', message, meta });
  }
  warn(message: string, meta: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'warn', message, meta });
  }
  error(message: string, meta: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'error', message, meta });
  }
}

export interface TestServer {
  url: string;
  node: FakeNode;
  logger: RecordingLogger;
  client: ClientServerApp;
  server: http.Server;
  close(): Promise<void>;
}

export async function startServer(
  overrides: Partial<ClientServerAppOptions> & { node?: FakeNode } = {},
): Promise<TestServer> {
  const node = overrides.node ?? new FakeNode();
  const logger = new RecordingLogger();
  const client = createClientServerApp({ logger, ...overrides, node });
  const server = http.createServer(client.app);
  attachClientErrorHandler(server, logger);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    node,
    logger,
    client,
    server,
    close: async () => {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      node.watches.close();
    },
  };
}

/** A request through node:http, for what fetch normalises away (dot segments, raw bytes). */
export function rawRequest(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A bare TCP connection to `url`, for what even node:http's client would not send or would hide:
 * pipelined requests, HEAD bodies, chunk framing. Everything received is kept as latin1 text.
 */
export async function rawSocket(url: string): Promise<{ write(text: string): void; received(): string; close(): void }> {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { write: (text) => socket.write(text), received: () => received, close: () => socket.destroy() };
}

export async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

/** Asserts the design's error shape and returns the error object. */
export async function errorBody(res: Response): Promise<{ code: string; message: string } & Record<string, unknown>> {
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) throw new Error(`error response has content type ${type}`);
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
  if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not the JSON error shape: ${JSON.stringify(body)}`);
  }
  return body.error as { code: string; message: string } & Record<string, unknown>;
}
