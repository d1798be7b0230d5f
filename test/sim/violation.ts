// A failed check. `checker` names the invariant (its file), so a report reads
// "state-machine-safety: n2 applied ... at 7 but n1 applied ...".
export class SimViolation extends Error {
  constructor(
    readonly checker: string,
    detail: string,
  ) {
    super(`${checker}: ${detail}`);
    this.name = 'SimViolation';
  }
}
