// Token authentication and prefix-scoped authorization (design section 4). Tokens come from files
// so that Kubernetes Secrets can be mounted; comparisons are constant-time.
import { readFileSync } from 'node:fs';
import type { Request } from 'express';
import { setPrincipal, tokenFingerprint } from './http/audit.js';
import { ForbiddenError, UnauthorizedError } from './http/errors.js';
import { headersOnly, type AccessNeed, type Authorize } from './http/types.js';
import { tokensEqual } from './tokens.js';

export interface ClientGrant {
  token: string;
  access: 'read' | 'readwrite';
  /** Key prefix the token may use; '' for every key (written `*` in the file). */
  prefix: string;
}

export class TokenFileError extends Error {
  readonly code = 'token_file';
}

/** Parses an `--auth-token-file`: one `TOKEN ACCESS PREFIX` per line, `#` starts a comment. */
export function parseClientTokens(text: string, file = 'token file'): ClientGrant[] {
  const grants: ClientGrant[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) throw new TokenFileError(`${file}:${i + 1}: expected "TOKEN read|readwrite PREFIX", got ${parts.length} fields`);
    const [token, access, prefix] = parts as [string, string, string];
    if (access !== 'read' && access !== 'readwrite') throw new TokenFileError(`${file}:${i + 1}: access must be read or readwrite, got ${access}`);
    grants.push({ token, access, prefix: prefix === '*' ? '' : prefix });
  });
  return grants;
}

/** One token, the whole file's content without surrounding white space. */
export function readSingleToken(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (token === '') throw new TokenFileError(`${file} is empty`);
  return token;
}

export interface TokenAuthOptions {
  clientGrants: ClientGrant[];
  adminToken?: string;
}

/**
 * The `authorize` hook for the client port. The admin token grants everything; a client token
 * grants its access on keys under its prefix (a listing or watch needs the whole prefix covered).
 */
export function tokenAuthorizer(o: TokenAuthOptions): Authorize {
  // Reads only the Authorization header: fit for the routes served without express.
  return headersOnly((req: Request, need: AccessNeed) => {
    const token = bearerToken(req.headers.authorization);
    if (token === '') throw new UnauthorizedError('a bearer token is required');
    if (o.adminToken !== undefined && tokensEqual(token, o.adminToken)) {
      setPrincipal(req, 'admin');
      return;
    }
    // Compare against every grant so that timing does not tell which token matched.
    const grants = o.clientGrants.filter((g) => tokensEqual(token, g.token));
    if (grants.length === 0) throw new UnauthorizedError('the token is not valid');
    // The audit log names the token by a hash prefix, even when the request is then refused.
    setPrincipal(req, tokenFingerprint(token));
    if (need.kind === 'admin') throw new ForbiddenError('the admin API needs the admin token');
    const target = 'key' in need ? need.key : need.prefix;
    const allowed = grants.some((g) => (need.kind === 'read' || g.access === 'readwrite') && target.startsWith(g.prefix));
    if (!allowed) throw new ForbiddenError(`the token does not grant ${need.kind} on ${'key' in need ? 'key' : 'prefix'} ${JSON.stringify(target)}`);
  });
}

/** The credentials of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1). */
function bearerToken(header: string | undefined): string {
  const m = /^bearer[ \t]+(.*)$/is.exec(header ?? '');
  return m ? m[1]!.trim() : '';
}
