// Design §2 "Identity" (and Raft §5.1: a term is only adopted from a member of this cluster):
// a node never adopts the term of a message from another cluster or of a malformed message, and
// a node that lost its disk never silently rejoins as the member it used to be: until it is added
// again under its new incarnation, it stores nothing from the cluster.
import { SimViolation } from '../violation.js';

/** Injected foreign or malformed messages carry terms at least this high; no real term gets there. */
export const FOREIGN_TERM_BASE = 1_000_000;

export class IdentityCheck {
  static readonly checker = 'identity';

  observeTerm(server: string, term: number): void {
    if (term >= FOREIGN_TERM_BASE) {
      throw new SimViolation(IdentityCheck.checker, `${server} adopted term ${term} from a foreign or malformed message`);
    }
  }

  /** A node that is not a member under its current incarnation (a wiped node, or a spare) stored cluster state. */
  observeNonMemberWrite(server: string, what: string): void {
    throw new SimViolation(IdentityCheck.checker, `${server} (not added under this incarnation) accepted cluster state: ${what}`);
  }
}
