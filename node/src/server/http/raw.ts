// The few request and response helpers the client port needs, on node:http's own types, so that
// the same code serves an express request and one served without express (hot-kv.ts). Each one
// behaves like the express method it replaces (named next to it).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** `req.get(name)`: a request header, case-insensitive; Referer and Referrer are one header. */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const lc = name.toLowerCase();
  const v = lc === 'referer' || lc === 'referrer' ? (req.headers.referrer ?? req.headers.referer) : req.headers[lc];
  return v as string | undefined;
}

/** `req.originalUrl`: the request target as received (express keeps it when routers trim `url`). */
export function originalUrlOf(req: IncomingMessage): string {
  return (req as { originalUrl?: string }).originalUrl ?? req.url ?? '';
}

/** True for an express response (it has express's helpers); false for a plain node:http one. */
export function isExpressResponse(res: ServerResponse): res is ServerResponse & { status(code: number): unknown; json(body: unknown): unknown } {
  return typeof (res as { json?: unknown }).json === 'function';
}

/**
 * `res.status(status).json(body)` as express 5 does it for a non-HEAD request with no conditional
 * match (our JSON answers never carry a Last-Modified, and errors are never "fresh"): JSON.stringify,
 * Content-Type application/json with charset unless one is set, Content-Length, no body for 204.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (isExpressResponse(res)) {
    res.status(status);
    res.json(body);
    return;
  }
  const text = JSON.stringify(body);
  res.statusCode = status;
  const type = res.getHeader('Content-Type');
  res.setHeader('Content-Type', typeof type === 'string' ? withUtf8Charset(type) : 'application/json; charset=utf-8');
  if (status === 204 || status === 304) {
    res.removeHeader('Content-Type');
    res.end();
    return;
  }
  res.setHeader('Content-Length', String(Buffer.byteLength(text, 'utf8')));
  res.end(text, 'utf8');
}

/** express's setCharset for the content types we set ourselves (no charset yet: add utf-8). */
function withUtf8Charset(type: string): string {
  return /;\s*charset\s*=/i.test(type) ? type.replace(/(;\s*charset\s*=\s*)("[^"]*"|[^;\s]*)/i, '$1utf-8') : `${type}; charset=utf-8`;
}
