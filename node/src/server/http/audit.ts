// The audit trail (issue 6): one log line per applied write and per membership change, saying who
// (the principal the auth hook recorded), what (action, key or member) and where in history
// (store revision, or Raft index for membership). Never the token, never the value: tokens are
// named by a hash prefix, and values may hold secrets.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FORWARDED_BY_HEADER } from './forward.js';
import { headerOf } from './raw.js';
import { requestIdOf } from './request-context.js';
import type { HttpLogger } from './types.js';

/** Who made a request when no auth hook said otherwise (auth off). */
export const ANONYMOUS = 'anonymous';

const PRINCIPAL = Symbol('conflux.principal');

type WithPrincipal = IncomingMessage & { [PRINCIPAL]?: string };

/** The auth hook records who the request authenticated as. */
export function setPrincipal(req: IncomingMessage, who: string): void {
  (req as WithPrincipal)[PRINCIPAL] = who;
}

export function principalOf(req: IncomingMessage): string {
  return (req as WithPrincipal)[PRINCIPAL] ?? ANONYMOUS;
}

/** A stable, non-reversible name for a token: `token:` and 12 hex digits of its SHA-256. */
export function tokenFingerprint(token: string): string {
  return `token:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

export type AuditEntry =
  | { action: 'put' | 'delete' | 'rollback'; key: string; revision: number; toRevision?: number }
  | { action: 'member-add' | 'member-promote' | 'member-remove'; member: string; index: number; peerURL?: string }
  | { action: 'leader-transfer'; to: string; index: number }
  | { action: 'bootstrap'; clusterId: string; index: number }
  | { action: 'backup'; revision: number; index: number; bytes: number; consistency: 'linearizable' | 'serializable' };

/** The message of every audit line; search the log for it. */
export const AUDIT_MESSAGE = 'audit';

export function audit(logger: HttpLogger, req: IncomingMessage, res: ServerResponse, entry: AuditEntry): void {
  // Nothing to build when the line would be dropped (the audit trail is at `info`).
  if (logger.isLevelEnabled?.('info') === false) return;
  const meta: Record<string, unknown> = { who: principalOf(req), ...entry };
  try {
    meta.requestId = requestIdOf(res);
  } catch {
    // No request context (an app built without it): the line is still worth having.
  }
  const forwardedBy = headerOf(req, FORWARDED_BY_HEADER);
  if (forwardedBy !== undefined) meta.forwardedBy = forwardedBy.slice(0, 64);
  logger.info(AUDIT_MESSAGE, meta);
}
