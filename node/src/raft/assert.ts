// A broken invariant in the core means the node can no longer be trusted: fail loudly instead of
// replicating damage (TigerStyle "Safety"). Never used for bad input from the network.
export class InvariantError extends Error {
  readonly code = 'CONFLUX_INVARIANT';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
