// A minimal HTTP client for the chaos workload, on node:http with keep-alive and no retries:
// fetch (undici) may retry a request it considers idempotent (PUT) on a fresh connection, which
// would turn one client operation into two writes and make the history lie.
import http from 'node:http';

export type HttpOutcome =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: string }
  /** The connection was refused: the request was never sent. */
  | { kind: 'refused'; error: string }
  /** Timed out, reset, or broke off: the request may have been received. */
  | { kind: 'unknown'; error: string };

export class ChaosHttp {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4000 });

  request(base: string, method: string, path: string, options: { body?: string; headers?: Record<string, string>; timeoutMs: number }): Promise<HttpOutcome> {
    const u = new URL(base);
    return new Promise((resolve) => {
      let settled = false;
      const settle = (o: HttpOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const headers: http.OutgoingHttpHeaders = { ...options.headers };
      if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
      const req = http.request(
        { host: u.hostname, port: u.port, method, path, headers, agent: this.agent },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => settle({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
          res.on('error', (err) => settle({ kind: 'unknown', error: String(err) }));
          res.on('aborted', () => settle({ kind: 'unknown', error: 'response aborted' }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error('client timeout'));
        settle({ kind: 'unknown', error: 'client timeout' });
      }, options.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        settle(err.code === 'ECONNREFUSED' ? { kind: 'refused', error: err.code } : { kind: 'unknown', error: err.code ?? err.message });
      });
      req.end(options.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
