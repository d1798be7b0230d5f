// Request bodies, read whole into one Buffer with an inclusive size limit. Values are opaque bytes,
// so nothing here decodes or inflates; a body that needs decoding is refused rather than stored
// as something other than what the client meant.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, bodyTooLarge, HttpError } from './errors.js';
import { headerOf } from './raw.js';
import { setRequestIdHeader } from './request-context.js';

const EMPTY = Buffer.alloc(0);

/**
 * The body, at most `limitBytes` bytes (a body of exactly the limit is accepted). Throws 413 as
 * soon as the limit is known to be exceeded, without buffering the rest.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limitBytes: number, what = 'request body'): Promise<Buffer> {
  const encoding = headerOf(req, 'Content-Encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return Promise.reject(new HttpError(415, 'unsupported_encoding', 'Content-Encoding is not supported'));
  }
  const declared = headerOf(req, 'Content-Length');
  if (declared !== undefined) {
    const n = Number(declared);
    if (!/^\d+$/.test(declared.trim()) || !Number.isSafeInteger(n)) {
      return Promise.reject(badRequest('malformed Content-Length'));
    }
    if (n > limitBytes) return Promise.reject(tooLarge(res, limitBytes, what));
  }
  if (req.readableEnded) return Promise.resolve(EMPTY);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limitBytes) {
        cleanup();
        // Keep consuming (and dropping) so the client can finish sending and read the 413.
        req.resume();
        reject(tooLarge(res, limitBytes, what));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    };
    const onError = (): void => {
      cleanup();
      reject(new HttpError(400, 'request_aborted', 'the request body could not be read'));
    };
    const onClose = (): void => {
      if (req.readableEnded) return;
      onError();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function tooLarge(res: ServerResponse, limitBytes: number, what: string): HttpError {
  // The unread rest of the body makes the connection useless for another request.
  setRequestIdHeader(res);
  res.setHeader('Connection', 'close');
  return bodyTooLarge(limitBytes, what);
}

/** A JSON object body ({} when empty); 400 for anything else. */
export async function readJsonObject(
  req: IncomingMessage,
  res: ServerResponse,
  limitBytes: number,
): Promise<{ raw: Buffer; value: Record<string, unknown> }> {
  const raw = await readBody(req, res, limitBytes, 'JSON body');
  if (raw.length === 0) return { raw, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest('the body is not valid JSON', 'invalid_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('the body must be a JSON object', 'invalid_json');
  }
  return { raw, value: value as Record<string, unknown> };
}
