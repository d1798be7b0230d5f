// What a finished Job says: when it succeeded or failed, and why it failed (the termination
// message of its pod, which is the last lines of its output with FallbackToLogsOnError).
import type { V1Job, V1JobCondition } from '@kubernetes/client-node';
import type { Kube } from '../kube.js';
import { JOB_NAME_LABEL } from '../specs/backup.js';

export type JobOutcome = { kind: 'running' } | { kind: 'succeeded'; at: string } | { kind: 'failed'; at: string; message: string };

const time = (t: Date | string | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

export function jobOutcome(job: V1Job): JobOutcome {
  const complete = condition(job, 'Complete');
  if (complete !== undefined) return { kind: 'succeeded', at: time(job.status?.completionTime) ?? time(complete.lastTransitionTime) ?? new Date(0).toISOString() };
  const failed = condition(job, 'Failed');
  if (failed !== undefined) {
    const message = [failed.reason, failed.message].filter((s) => s !== undefined && s !== '').join(': ') || 'failed';
    return { kind: 'failed', at: time(failed.lastTransitionTime) ?? time(job.metadata?.creationTimestamp) ?? new Date(0).toISOString(), message };
  }
  return { kind: 'running' };
}

const MAX_MESSAGE = 1024;

/** The last termination message of the Job's pods, else `fallback`. Never fails. */
export async function jobFailureMessage(kube: Kube, job: V1Job, fallback: string): Promise<string> {
  try {
    const pods = await kube.list('Pod', job.metadata?.namespace, `${JOB_NAME_LABEL}=${job.metadata?.name ?? ''}`);
    const messages = pods
      .flatMap((p) => (p.status?.containerStatuses ?? []).map((c) => ({ at: c.state?.terminated?.finishedAt, text: c.state?.terminated?.message?.trim() })))
      .filter((m): m is { at: Date | undefined; text: string } => m.text !== undefined && m.text !== '')
      .sort((a, b) => new Date(b.at ?? 0).getTime() - new Date(a.at ?? 0).getTime());
    const text = messages[0]?.text;
    if (text === undefined) return fallback;
    return text.length > MAX_MESSAGE ? `...${text.slice(-MAX_MESSAGE)}` : text;
  } catch {
    return fallback;
  }
}
