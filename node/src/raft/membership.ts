// Configurations: who votes, who learns, and how a single change turns one configuration into the
// next. Config entries carry whole configurations (see types.ts), so applying one is a replacement.
import type { Entry, Member, Membership, NodeId } from './types.js';

export type MembershipChange =
  | { type: 'add-learner'; member: Omit<Member, 'role'> }
  | { type: 'promote'; id: NodeId }
  | { type: 'remove'; id: NodeId }
  /**
   * Internal: record the incarnation (and client URL, when unknown) a member was first heard with.
   * A statically bootstrapped cluster knows neither for its peers at start.
   */
  | { type: 'pin-identity'; id: NodeId; incarnation: string; clientURL: string };

export const emptyMembership: Membership = { members: [] };

export function voters(m: Membership): NodeId[] {
  return m.members.filter((x) => x.role === 'voter').map((x) => x.id);
}

export function findMember(m: Membership, id: NodeId): Member | undefined {
  return m.members.find((x) => x.id === id);
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return findMember(m, id)?.role === 'voter';
}

export type ChangeOutcome =
  | { ok: true; next: Membership; noop: boolean }
  | { ok: false; code: 'unknown_member' | 'invalid'; message: string };

/**
 * The configuration after `change`. Single-server changes only (thesis §4.1): any two consecutive
 * configurations' majorities overlap, so no joint consensus is needed.
 */
export function applyChange(m: Membership, change: MembershipChange): ChangeOutcome {
  const existing = 'id' in change ? findMember(m, change.id) : findMember(m, change.member.id);
  switch (change.type) {
    case 'add-learner': {
      const wanted = change.member;
      if (!wanted.id) return { ok: false, code: 'invalid', message: 'member id is empty' };
      if (existing) {
        const same =
          existing.peerURL === wanted.peerURL &&
          existing.clientURL === wanted.clientURL &&
          (wanted.incarnation === '' || existing.incarnation === wanted.incarnation);
        return same
          ? { ok: true, next: m, noop: true }
          : { ok: false, code: 'invalid', message: `member ${wanted.id} exists with other URLs or incarnation; remove it first` };
      }
      return { ok: true, next: { members: [...m.members, { ...wanted, role: 'learner' }] }, noop: false };
    }
    case 'promote': {
      if (!existing) return { ok: false, code: 'unknown_member', message: `no member ${change.id}` };
      if (existing.role === 'voter') return { ok: true, next: m, noop: true };
      return { ok: true, next: replace(m, { ...existing, role: 'voter' }), noop: false };
    }
    case 'remove': {
      if (!existing) return { ok: false, code: 'unknown_member', message: `no member ${change.id}` };
      const next = { members: m.members.filter((x) => x.id !== change.id) };
      if (existing.role === 'voter' && voters(next).length === 0) {
        return { ok: false, code: 'invalid', message: 'cannot remove the last voter' };
      }
      return { ok: true, next, noop: false };
    }
    case 'pin-identity': {
      if (!existing) return { ok: false, code: 'unknown_member', message: `no member ${change.id}` };
      if (existing.incarnation !== '' && existing.incarnation !== change.incarnation) {
        return { ok: false, code: 'invalid', message: `member ${change.id} already has incarnation ${existing.incarnation}` };
      }
      const clientURL = existing.clientURL || change.clientURL;
      if (existing.incarnation === change.incarnation && existing.clientURL === clientURL) return { ok: true, next: m, noop: true };
      return { ok: true, next: replace(m, { ...existing, incarnation: change.incarnation, clientURL }), noop: false };
    }
  }
}

function replace(m: Membership, member: Member): Membership {
  return { members: m.members.map((x) => (x.id === member.id ? member : x)) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMembership(m: Membership): Uint8Array {
  return encoder.encode(JSON.stringify(m));
}

/** Decodes a config entry. Config entries are written by leaders, so garbage here is a bug. */
export function decodeMembership(data: Uint8Array): Membership {
  const parsed = JSON.parse(decoder.decode(data)) as Membership;
  if (!parsed || !Array.isArray(parsed.members)) throw new Error('config entry without members');
  return parsed;
}

export function membershipOfEntry(e: Entry): Membership | null {
  return e.kind === 'config' ? decodeMembership(e.data) : null;
}
