// Parsing of everything a client puts in a URL or a header. Each function either returns a valid
// value or throws a 400 HttpError / store validation error: handlers never see raw input.
import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { InvalidKeyError, validateKey } from '../../store/index.js';
import { badRequest } from './errors.js';
import { headerOf } from './raw.js';

/** Parsed query parameters: a string per parameter given once, an array when repeated. */
export type Query = Record<string, string | string[] | undefined>;

/**
 * The key in `/prefix/{key}`: the rest of the raw path, percent-decoded once. Decoding happens
 * here, not in the router, so that `a%2Fb` and `a/b` name the same key and a malformed escape is
 * an invalid key rather than a router error.
 */
export function keyFromPath(req: Request, prefix: string): string {
  return keyOfPath(req.path, prefix);
}

/** `keyFromPath` on the path itself (the URL's path, without the query). */
export function keyOfPath(path: string, prefix: string): string {
  if (!path.startsWith(prefix)) throw new Error(`route ${prefix} matched ${path}`);
  let key: string;
  try {
    key = decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new InvalidKeyError('invalid_utf8', 'the key is not valid percent-encoded UTF-8');
  }
  validateKey(key);
  return key;
}

/** A query parameter given at most once; repeated parameters are ambiguous and refused. */
export function queryString(req: Request, name: string): string | undefined {
  return queryParam(req.query as Query, name);
}

export function queryParam(query: Query, name: string): string | undefined {
  const v: unknown = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest(`query parameter ${name} must be given once`, 'invalid_argument', { field: name });
  return v;
}

const DECIMAL = /^[0-9]{1,16}$/;

/** A positive safe integer (revisions, limits); 400 for anything else, including `01e3` or `-1`. */
export function parsePositiveInt(raw: string, field: string): number {
  const n = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw badRequest(`${field} must be a positive integer`, 'invalid_argument', { field });
  }
  return n;
}

export function queryPositiveInt(req: Request, name: string): number | undefined {
  return queryPositiveIntOf(req.query as Query, name);
}

export function queryPositiveIntOf(query: Query, name: string): number | undefined {
  const raw = queryParam(query, name);
  return raw === undefined ? undefined : parsePositiveInt(raw, name);
}

export function queryBoolean(req: Request, name: string): boolean {
  const raw = queryString(req, name);
  if (raw === undefined) return false;
  switch (raw.toLowerCase()) {
    case '':
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      throw badRequest(`${name} must be true or false`, 'invalid_argument', { field: name });
  }
}

export type Consistency = 'linearizable' | 'serializable';

export function queryConsistency(req: Request): Consistency {
  return consistencyOf(req.query as Query);
}

export function consistencyOf(query: Query): Consistency {
  const raw = queryParam(query, 'consistency');
  if (raw === undefined || raw === 'linearizable') return 'linearizable';
  if (raw === 'serializable') return 'serializable';
  throw badRequest('consistency must be linearizable or serializable', 'invalid_argument', { field: 'consistency' });
}

/**
 * `If-Match: "<modRevision>"`. One strong ETag only: the store compares one modRevision, so a
 * list, `*` or a weak tag cannot be honoured and is refused rather than silently ignored. The
 * bare number is accepted too (it is unambiguous, and people type it in curl).
 */
export function ifMatchRevision(req: IncomingMessage): number | undefined {
  const raw = headerOf(req, 'If-Match');
  if (raw === undefined) return undefined;
  const m = /^\s*(?:"([0-9]{1,16})"|([0-9]{1,16}))\s*$/.exec(raw);
  const digits = m?.[1] ?? m?.[2];
  const n = digits === undefined ? NaN : Number(digits);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw badRequest('If-Match must be one ETag of the form "<modRevision>"', 'invalid_if_match');
  }
  return n;
}

/** `If-None-Match: *` (create only); any other value is refused. */
export function ifNoneMatchStar(req: IncomingMessage): boolean {
  const raw = headerOf(req, 'If-None-Match');
  if (raw === undefined) return false;
  if (raw.trim() === '*') return true;
  throw badRequest('If-None-Match supports only * (create only) on writes', 'invalid_if_none_match');
}

/** The stored content type: the header as sent, or the default. */
export function contentTypeOf(req: IncomingMessage): string {
  const raw = headerOf(req, 'Content-Type');
  if (raw === undefined || raw.trim() === '') return 'application/octet-stream';
  return raw.trim();
}
