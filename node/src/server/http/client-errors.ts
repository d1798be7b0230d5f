// Requests so malformed that Node's HTTP parser rejects them never reach express: Node answers
// them itself with a bare status line. This handler gives them the JSON error shape too, so that
// "every 4xx carries the JSON shape" holds for garbage, oversized headers and slow clients alike.
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpLogger } from './types.js';

type ParserError = Error & { code?: string };

function statusFor(code: string | undefined): { status: number; code: string; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: 'the request line or headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
    default:
      return { status: 400, code: 'bad_request', message: 'the request is not valid HTTP' };
  }
}

/** Call once on the client port's server (main.ts). */
export function attachClientErrorHandler(server: Server, logger?: HttpLogger): void {
  // Node answers an HTTP/1.1 request without Host with a bare 400 before any handler runs; the
  // app refuses it itself instead (app.ts), with the JSON shape.
  (server as Server & { requireHostHeader?: boolean }).requireHostHeader = false;
  server.on('clientError', (err: ParserError, socket: Duplex) => {
    // A reset or a half-written response: there is nobody to answer.
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const answer = statusFor(err.code);
    logger?.info('malformed request refused', { status: answer.status, reason: err.code ?? 'unknown' });
    const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
