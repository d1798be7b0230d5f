// No acknowledged write is lost (Raft §5.4's guarantee seen by a client, and design §3: a write
// is answered only after it is committed and applied). After the run, every write a client saw
// succeed must be in the final applied state of every live voter, exactly once, at the log index
// the client was told. The state machine records which operation each index applied (kv.ts), so
// this holds across snapshots and restarts.
import { SimViolation } from '../violation.js';

export interface AcknowledgedWrite {
  opId: number;
  key: string;
  index: number;
}

export interface FinalReplica {
  id: string;
  appliedIndex: number;
  appliedAt(opId: number): number | undefined;
}

export function checkAcknowledgedWrites(acknowledged: readonly AcknowledgedWrite[], replicas: readonly FinalReplica[]): void {
  for (const replica of replicas) {
    for (const write of acknowledged) {
      if (write.index > replica.appliedIndex) {
        throw new SimViolation(
          'acknowledged-writes',
          `${replica.id} applied only through ${replica.appliedIndex}, before acknowledged write #${write.opId} at ${write.index}`,
        );
      }
      const at = replica.appliedAt(write.opId);
      if (at !== write.index) {
        throw new SimViolation(
          'acknowledged-writes',
          `acknowledged write #${write.opId} (key ${write.key}, index ${write.index}) is ${
            at === undefined ? 'missing' : `at index ${at}`
          } on ${replica.id}`,
        );
      }
    }
  }
}
