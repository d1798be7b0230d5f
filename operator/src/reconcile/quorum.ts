// Quorum loss: fewer than a majority of the voters can take part, so no leader can be elected (or
// the one there cannot commit). The operator only reports it (Degraded, reason QuorumLost, one
// Warning event per transition through the status writer); it changes no membership and deletes
// no pod: the recovery (docs/runbooks.md, "Quorum lost") may lose acknowledged writes, and only a
// human can decide to accept that.
import type { MemberView } from '../conflux-admin.js';
import { majority } from './membership.js';
import { errorMessage } from './status.js';
import { CONTINUE, type ReconcileContext, type ReconcileState, type Step } from './types.js';

export const RUNBOOK_HINT = 'see docs/runbooks.md, "Quorum lost"';

export const detectQuorumLoss: Step = {
  name: 'detectQuorumLoss',
  async run(ctx, state) {
    const message = await quorumLoss(ctx, state);
    if (message !== null) state.issues.Degraded.push({ reason: 'QuorumLost', message });
    return CONTINUE;
  },
};

type Voter = Pick<MemberView, 'id' | 'role'>;

/** The configuration without a leader: any answering member's view, else the last status. */
async function configuration(ctx: ReconcileContext, state: ReconcileState): Promise<Voter[] | null> {
  const pods = state.observed?.pods ?? [];
  for (const p of pods) {
    if (p.url === null || p.status === undefined || p.status.clusterId !== state.clusterId || p.status.role === 'joining') continue;
    try {
      const view = await ctx.admin.members(state.token !== undefined ? { url: p.url, token: state.token } : { url: p.url });
      if (view.members.length > 0) return view.members;
    } catch (err) {
      ctx.logger.debug('members not listed', { pod: p.name, error: errorMessage(err) });
    }
  }
  const recorded = state.cluster.status?.members;
  return recorded !== undefined && recorded.length > 0 ? recorded.map((m) => ({ id: m.name, role: m.role })) : null;
}

/** Why the quorum is lost, or null when it is not (or cannot be told). */
export async function quorumLoss(ctx: ReconcileContext, state: ReconcileState): Promise<string | null> {
  const obs = state.observed;
  if (obs === undefined || state.clusterId === undefined) return null;
  const leader = obs.leader;
  if (leader !== null) {
    const voters = leader.view.members.filter((m) => m.role === 'voter');
    const healthy = voters.filter((m) => m.healthy);
    if (healthy.length >= majority(voters.length)) return null;
    const down = voters.filter((m) => !m.healthy).map((m) => m.id);
    return `leader ${leader.status.id} hears from ${healthy.length} of ${voters.length} voters (not: ${down.join(', ')}); ${majority(voters.length)} are needed to commit. Nothing is changed automatically; ${RUNBOOK_HINT}`;
  }
  const config = await configuration(ctx, state);
  if (config === null) return null;
  const voters = config.filter((m) => m.role === 'voter');
  if (voters.length === 0) return null;
  const answering = voters.filter((v) => {
    const p = obs.pods.find((x) => x.name === v.id);
    return p !== undefined && !p.terminating && p.status !== undefined && p.status.clusterId === state.clusterId;
  });
  const need = majority(voters.length);
  const silent = voters.filter((v) => !answering.includes(v)).map((v) => v.id);
  if (answering.length < need) {
    return `only ${answering.length} of ${voters.length} voters answer (missing: ${silent.join(', ')}); ${need} are needed to elect a leader. Nothing is changed automatically: bring the missing pods back with their volumes, or ${RUNBOOK_HINT}`;
  }
  const available = state.cluster.status?.conditions?.find((c) => c.type === 'Available');
  if (available?.status === 'False' && available.reason === 'NoLeader') {
    const since = Date.parse(available.lastTransitionTime);
    const forMs = ctx.nowMs() - since;
    if (Number.isFinite(since) && forMs >= ctx.options.quorumLostAfterMs) {
      return `no leader for ${Math.round(forMs / 1000)} s although ${answering.length} of ${voters.length} voters answer (a partition between them?). Nothing is changed automatically; ${RUNBOOK_HINT}`;
    }
  }
  return null;
}
