// Narrowing indeterminate operations with the store's own history before the linearizability
// check. A timed-out write leaves the checker free to place it anywhere after its invocation, or
// nowhere, and a few hundred of those make the search explode. But every write of the workload
// stores a unique value, and the store's history (read after the run, and seen live by the
// watchers, which also covers what compaction dropped) says which values were applied, and at
// which revision:
// - a value that never appears, when the history is complete, was not applied: the operation is
//   left out, exactly like a 503;
// - a value applied at revision R was linearized when R was applied. That happened before any
//   operation that observed revision R or a later one completed (an acknowledged write answered
//   with a revision above R, a read that returned this value or one written above R): the earliest
//   such completion becomes the operation's completion time, with the output it must have had.
// Sound as long as the history is the store's true order of writes, which the other checks
// establish independently (acknowledged writes found at their revisions, watchers agreeing with it).
import type { KeyedRegisterOperation } from '../support/linearizability.js';
import type { ClientOp } from './workload.js';

export interface Change {
  key: string;
  deleted: boolean;
  value: string;
}

export interface Resolution {
  history: KeyedRegisterOperation[];
  /** Indeterminate writes found applied and given a completion time. */
  completed: number;
  /** Indeterminate writes found never applied (dropped). */
  dropped: number;
  /** Indeterminate operations left as they were. */
  open: number;
  /** Values the history shows applied before their write was even invoked. */
  anomalies: string[];
}

/**
 * `known` maps revisions to changes; `complete` says whether it holds every revision from 1 to
 * the final one (only then does a missing value prove a write was not applied).
 */
export function resolveIndeterminate(ops: readonly ClientOp[], known: ReadonlyMap<number, Change>, complete: boolean): Resolution {
  const revisionOfValue = new Map<string, number>();
  for (const [revision, change] of known) if (!change.deleted) revisionOfValue.set(change.value, revision);

  // Completion times of operations that observed revision r: suffix minima give, for any R, the
  // earliest completion of an operation that observed R or a later revision.
  const observed: { revision: number; completeMs: number }[] = [];
  for (const op of ops) {
    if (op.result !== 'ok' || op.completeMs === undefined) continue;
    if (op.revision !== undefined) observed.push({ revision: op.revision, completeMs: op.completeMs });
    if (op.output?.type === 'read' && op.output.value !== null) {
      const r = revisionOfValue.get(op.output.value);
      if (r !== undefined) observed.push({ revision: r, completeMs: op.completeMs });
    }
  }
  observed.sort((a, b) => a.revision - b.revision);
  const suffixMin: number[] = new Array<number>(observed.length);
  let min = Infinity;
  for (let i = observed.length - 1; i >= 0; i--) {
    min = Math.min(min, observed[i]!.completeMs);
    suffixMin[i] = min;
  }
  const earliestFrom = (revision: number): number => {
    let lo = 0;
    let hi = observed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (observed[mid]!.revision >= revision) hi = mid;
      else lo = mid + 1;
    }
    return lo < observed.length ? suffixMin[lo]! : Infinity;
  };

  const history: KeyedRegisterOperation[] = [];
  let completed = 0;
  let dropped = 0;
  let open = 0;
  const anomalies: string[] = [];
  for (const op of ops) {
    if (op.result === 'failed') continue;
    const base = { id: op.id, clientId: op.client, key: op.key, input: op.input, output: op.output, invokeMs: op.invokeMs, completeMs: op.completeMs };
    if (op.result === 'ok' || op.input.type === 'read') {
      history.push(base);
      continue;
    }
    const value = op.input.value;
    if (value === null) {
      open++;
      history.push(base);
      continue;
    }
    const revision = revisionOfValue.get(value);
    if (revision === undefined) {
      if (complete) {
        dropped++;
        continue;
      }
      open++;
      history.push(base);
      continue;
    }
    const by = earliestFrom(revision);
    if (by < op.invokeMs) {
      anomalies.push(`op ${op.id} (${op.kind} ${op.key}=${value}) invoked at ${op.invokeMs} ms, but its value is at revision ${revision}, observed by ${by} ms`);
    }
    if (by === Infinity || by < op.invokeMs) {
      // No later observation: its place is unknown.
      open++;
      history.push(base);
      continue;
    }
    completed++;
    history.push({ ...base, output: op.input.type === 'cas' ? { type: 'cas', ok: true } : { type: 'write' }, completeMs: by });
  }
  return { history, completed, dropped, open, anomalies };
}
