// The surface of RaftCore the simulator drives. Declared here (not imported) so that the harness,
// network and checkers stand on their own; `core-factory.ts` binds it to the real core.
import type { RaftConfig, RaftInitialState } from '../../node/src/raft/config.js';
import type { Action, Member, Membership, Message, NodeId, Role, SnapshotMeta } from '../../node/src/raft/types.js';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; code: string; leaderId: NodeId | null };

export type MembershipChange =
  | { type: 'add-learner'; member: Pick<Member, 'id' | 'incarnation' | 'peerURL' | 'clientURL'> }
  | { type: 'promote'; id: NodeId }
  | { type: 'remove'; id: NodeId };

export type ReadIndexResult = { ok: true } | { ok: false; code: string; leaderId: NodeId | null };

export type TransferResult = { ok: true; to: NodeId } | { ok: false; code: string };

export interface CoreStatus {
  id: NodeId;
  role: Role;
  term: number;
  leaderId: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  membership: Membership;
}

export interface SimCore {
  tick(): void;
  step(msg: Message): void;
  propose(data: Uint8Array): ProposeResult;
  changeMembership(change: MembershipChange): ProposeResult;
  readIndex(id: number): ReadIndexResult;
  transferLeadership(to?: NodeId): TransferResult;
  takeActions(): Action[];
  persisted(index: number, term: number): void;
  reportSnapshot(to: NodeId, ok: boolean): void;
  reportUnreachable(to: NodeId): void;
  snapshotTaken(meta: SnapshotMeta): void;
  status(): CoreStatus;
}

export type CoreFactory = (config: RaftConfig, initial: RaftInitialState) => SimCore;
