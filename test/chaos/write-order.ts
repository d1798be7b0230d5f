// A second, linear-time linearizability check that takes the store's own order of writes (its
// revisions) as the candidate linearization, the way Elle checks a history against the version
// order a database exposes. Per key: the versions in revision order, each with the operation that
// wrote it (found by its unique value, or by the revision a delete was acknowledged with), and the
// reads that returned each value. Linearization points are placed greedily, as early as allowed:
//   t(v_i) = max(t(v_{i-1}), invoke(writer of v_i), invoke of every read of v_{i-1}) + ε
// (a read of v_{i-1} must be linearized before v_i replaced it). The history agrees with that
// order if every writer completes after its point, every read completes after the point of the
// version it returned, every successful compare-and-set expected the version before its own, and
// no read returns a value never written to the key. Passing proves linearizability of those
// operations (an explicit linearization exists); failing means the order the store reports
// contradicts what its clients saw. Reads of "absent" and failed compare-and-sets are not placed
// here (they have more than one admissible version); the search-based checker covers them.
import type { Change } from './resolve.js';
import type { ClientOp } from './workload.js';

const EPSILON = 1e-6;

export interface WriteOrderResult {
  keys: number;
  versions: number;
  reads: number;
  problems: string[];
}

/** `known` must hold every revision from 1 to the last one (see resolve.ts). */
export function checkWriteOrder(ops: readonly ClientOp[], known: ReadonlyMap<number, Change>): WriteOrderResult {
  const problems: string[] = [];
  const versionsByKey = new Map<string, { revision: number; change: Change }[]>();
  for (const [revision, change] of [...known.entries()].sort((a, b) => a[0] - b[0])) {
    const list = versionsByKey.get(change.key) ?? [];
    list.push({ revision, change });
    versionsByKey.set(change.key, list);
  }
  const writerByValue = new Map<string, ClientOp>();
  const deleteByRevision = new Map<number, ClientOp>();
  const readsByValue = new Map<string, ClientOp[]>();
  for (const op of ops) {
    if (op.result === 'failed') continue;
    if (op.input.type !== 'read' && op.input.value !== null) writerByValue.set(op.input.value, op);
    if (op.kind === 'delete' && op.result === 'ok' && op.revision !== undefined) deleteByRevision.set(op.revision, op);
    if (op.result === 'ok' && op.output?.type === 'read' && op.output.value !== null) {
      const list = readsByValue.get(op.output.value) ?? [];
      list.push(op);
      readsByValue.set(op.output.value, list);
    }
  }
  let versions = 0;
  let reads = 0;
  const placedValues = new Set<string>();
  for (const [key, list] of versionsByKey) {
    let t = -Infinity;
    let previous: { value: string | null; reads: ClientOp[] } = { value: null, reads: [] };
    for (const { revision, change } of list) {
      versions++;
      const writer = change.deleted ? deleteByRevision.get(revision) : writerByValue.get(change.value);
      let point = t;
      if (writer !== undefined) point = Math.max(point, writer.invokeMs);
      for (const r of previous.reads) point = Math.max(point, r.invokeMs);
      point += EPSILON;
      if (writer !== undefined && writer.completeMs !== undefined && writer.result === 'ok' && point > writer.completeMs) {
        problems.push(`${key} revision ${revision}: op ${writer.id} (${writer.kind} ${change.deleted ? 'delete' : change.value}) completed at ${writer.completeMs} ms, but the writes and reads ordered before it by the store force its point to ${point.toFixed(3)} ms`);
      }
      if (writer !== undefined && writer.input.type === 'cas' && writer.input.expected !== previous.value) {
        problems.push(`${key} revision ${revision}: op ${writer.id} compare-and-set expected ${JSON.stringify(writer.input.expected)} but the version before was ${JSON.stringify(previous.value)}`);
      }
      const value = change.deleted ? null : change.value;
      const versionReads = value === null ? [] : (readsByValue.get(value) ?? []);
      for (const r of versionReads) {
        reads++;
        if (r.key !== key) problems.push(`op ${r.id} read ${JSON.stringify(value)} from ${r.key}, a value written to ${key}`);
        else if (Math.max(r.invokeMs, point) > r.completeMs!) {
          problems.push(`${key} revision ${revision}: op ${r.id} read ${JSON.stringify(value)} and completed at ${r.completeMs} ms, before that version could exist (${point.toFixed(3)} ms)`);
        }
      }
      if (value !== null) placedValues.add(value);
      t = point;
      previous = { value, reads: versionReads };
    }
  }
  for (const [value, list] of readsByValue) {
    if (!placedValues.has(value)) problems.push(`op ${list[0]!.id} read ${JSON.stringify(value)} from ${list[0]!.key}: no such version in the store's history`);
  }
  return { keys: versionsByKey.size, versions, reads, problems };
}
