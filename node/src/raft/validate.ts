// Structural checks on messages that come from the network. The transport decodes bytes into
// objects; this decides whether such an object is a Message at all, so that a malformed message
// never changes the core's term or log.
import type { Entry, Message } from './types.js';

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

/** Returns null when `m` is a well-formed Message, else the reason it is not. */
export function messageProblem(m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const o = m as Record<string, unknown>;
  for (const f of ['clusterId', 'from', 'fromIncarnation', 'to', 'toIncarnation'] as const) {
    if (!isStr(o[f])) return `${f} must be a string`;
  }
  if (!o.from) return 'from is empty';
  if (o.fromClientURL !== undefined && !isStr(o.fromClientURL)) return 'fromClientURL must be a string';
  if (!isIndex(o.term)) return 'term must be a non-negative integer';
  switch (o.type) {
    case 'vote':
      if (!isBool(o.preVote) || !isBool(o.transfer)) return 'vote flags must be booleans';
      if (!isIndex(o.lastLogIndex) || !isIndex(o.lastLogTerm)) return 'vote log position must be integers';
      return null;
    case 'vote_resp':
      return isBool(o.preVote) && isBool(o.granted) ? null : 'vote_resp flags must be booleans';
    case 'append': {
      if (!isIndex(o.prevIndex) || !isIndex(o.prevTerm) || !isIndex(o.commit)) return 'append positions must be integers';
      if (!Array.isArray(o.entries)) return 'entries must be an array';
      if (o.commitOnly !== undefined && (o.commitOnly !== true || o.entries.length > 0)) return 'commitOnly must be true, and only on an empty append';
      let expect = o.prevIndex + 1;
      for (const e of o.entries as unknown[]) {
        const p = entryProblem(e, expect);
        if (p) return p;
        if ((e as Entry).term > o.term) return 'entry term above the message term';
        expect++;
      }
      return null;
    }
    case 'append_resp': {
      if (!isBool(o.success) || !isIndex(o.matchIndex)) return 'append_resp fields have wrong types';
      const h = o.rejectHint;
      if (h === null) return null;
      if (typeof h !== 'object' || !isIndex((h as Entry).index) || !isIndex((h as Entry).term)) return 'rejectHint malformed';
      return null;
    }
    case 'heartbeat':
      return isIndex(o.commit) && isIndex(o.readSeq) ? null : 'heartbeat fields must be integers';
    case 'heartbeat_resp':
      return isIndex(o.readSeq) ? null : 'readSeq must be an integer';
    case 'snapshot': {
      const meta = o.meta as Record<string, unknown> | null;
      if (typeof meta !== 'object' || meta === null) return 'snapshot meta missing';
      if (!isIndex(meta.index) || !isIndex(meta.term)) return 'snapshot meta positions must be integers';
      const ms = meta.membership as { members?: unknown } | null;
      if (typeof ms !== 'object' || ms === null || !Array.isArray(ms.members)) return 'snapshot membership malformed';
      return null;
    }
    case 'timeout_now':
      return null;
    default:
      return `unknown message type ${String(o.type)}`;
  }
}

function entryProblem(e: unknown, expectedIndex: number): string | null {
  if (typeof e !== 'object' || e === null) return 'entry is not an object';
  const o = e as Record<string, unknown>;
  if (o.index !== expectedIndex) return `entry index ${String(o.index)} where ${expectedIndex} was expected`;
  if (!isIndex(o.term) || o.term === 0) return 'entry term must be a positive integer';
  if (o.kind !== 'normal' && o.kind !== 'blank' && o.kind !== 'config') return 'entry kind unknown';
  if (!(o.data instanceof Uint8Array)) return 'entry data must be bytes';
  return null;
}

export function asMessage(m: unknown): Message | null {
  return messageProblem(m) === null ? (m as Message) : null;
}
