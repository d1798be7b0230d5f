// Linearizability checking of client histories (Herlihy & Wing 1990), with the search of Wing &
// Gong (1993) as improved by Lowe ("Testing for linearizability", 2017): depth-first, linearize any
// call that is minimal in real-time order, backtrack when a completed operation cannot be placed,
// and memoize (set of linearized operations, model state) pairs already explored so that the
// search never repeats a configuration (the idea Porcupine and Knossos use too).
//
// The checker knows nothing about Raft or the simulator: a history is a list of operations with
// invoke/complete times. An operation whose outcome is unknown (a timeout, a crash, a 504) has no
// complete time: it may have taken effect at any moment after its invocation, or never. Placing
// it "at the end" is the same as "never" for everything observed, so the search simply never
// requires it to be linearized.

/** A sequential specification. `step` returns the next state, or undefined when `output` is
 * impossible from `state`. `output` undefined means "unknown": accept any outcome. */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A string that is equal for equal states (memoization key). */
  stateKey(state: S): string;
  describe?(input: I, output: O | undefined): string;
}

export interface Operation<I, O> {
  /** Unique within the history; used in reports only. */
  id: number | string;
  clientId?: number | string;
  input: I;
  /** Undefined when the outcome is unknown (then `completeMs` must be undefined too). */
  output: O | undefined;
  invokeMs: number;
  /** Undefined when the operation never completed (indeterminate). */
  completeMs: number | undefined;
}

export type CheckResult =
  | { outcome: 'ok'; steps: number }
  | {
      outcome: 'violation';
      steps: number;
      /** Longest sequence the search managed to linearize, in order. */
      longestPrefix: Array<number | string>;
      /** Completed operations that could not be placed after that prefix. */
      stuck: Array<number | string>;
      message: string;
    }
  | { outcome: 'timeout'; steps: number };

export interface CheckOptions {
  /** Search budget (model steps). A pathological history answers 'timeout' instead of hanging. */
  maxSteps?: number;
}

interface Node<I, O> {
  op: Operation<I, O>;
  /** Dense index of the operation (bit in the linearized set). */
  index: number;
  isCall: boolean;
  /** The return node of a call (null for an indeterminate call), the call of a return. */
  match: Node<I, O> | null;
  prev: Node<I, O> | null;
  next: Node<I, O> | null;
}

/** Check one sequential object (one partition) against `model`. */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  operations: ReadonlyArray<Operation<I, O>>,
  options: CheckOptions = {},
): CheckResult {
  const maxSteps = options.maxSteps ?? 2_000_000;
  validate(operations);
  const head = buildList(operations);
  let remainingCompleted = operations.filter((o) => o.completeMs !== undefined).length;

  const words = Math.max(1, Math.ceil(operations.length / 32));
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: Array<{ call: Node<I, O>; state: S }> = [];
  let state = model.init();
  let steps = 0;
  let longest: Array<number | string> = [];

  let entry = head.next;
  while (remainingCompleted > 0) {
    if (entry === null) {
      // Only indeterminate calls are left ahead and none could be placed: backtrack.
      const resumed = backtrack();
      if (resumed === undefined) return violation();
      entry = resumed;
      continue;
    }
    if (++steps > maxSteps) return { outcome: 'timeout', steps };
    if (entry.isCall) {
      const next = model.step(state, entry.op.input, entry.op.output);
      if (next !== undefined) {
        setBit(linearized, entry.index);
        const key = `${bitsKey(linearized)}|${model.stateKey(next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          if (entry.match !== null) remainingCompleted--;
          if (stack.length > longest.length) longest = stack.map((s) => s.call.op.id);
          entry = head.next;
          continue;
        }
        clearBit(linearized, entry.index);
      }
      entry = entry.next;
    } else {
      // A completed operation returns before it was linearized: the current prefix is wrong.
      const resumed = backtrack();
      if (resumed === undefined) return violation();
      entry = resumed;
    }
  }
  return { outcome: 'ok', steps };

  function backtrack(): Node<I, O> | null | undefined {
    const top = stack.pop();
    if (top === undefined) return undefined;
    unlift(top.call);
    if (top.call.match !== null) remainingCompleted++;
    clearBit(linearized, top.call.index);
    state = top.state;
    return top.call.next;
  }

  function violation(): CheckResult {
    const placed = new Set(longest);
    const stuck = operations
      .filter((o) => o.completeMs !== undefined && !placed.has(o.id))
      .map((o) => o.id);
    const describe = (id: number | string): string => {
      const op = operations.find((o) => o.id === id);
      if (op === undefined) return String(id);
      const text = model.describe ? model.describe(op.input, op.output) : JSON.stringify(op.input);
      return `#${id} ${text} [${op.invokeMs}, ${op.completeMs ?? '?'}]`;
    };
    return {
      outcome: 'violation',
      steps,
      longestPrefix: longest,
      stuck,
      message:
        `not linearizable; longest linearized prefix: ${longest.map(describe).join(' -> ') || '(empty)'}; ` +
        `cannot place next: ${stuck.slice(0, 5).map(describe).join(', ')}`,
    };
  }
}

function validate<I, O>(operations: ReadonlyArray<Operation<I, O>>): void {
  const ids = new Set<number | string>();
  for (const op of operations) {
    if (ids.has(op.id)) throw new Error(`duplicate operation id ${String(op.id)}`);
    ids.add(op.id);
    if (!Number.isFinite(op.invokeMs)) throw new Error(`operation ${String(op.id)}: invokeMs must be finite`);
    if (op.completeMs !== undefined && op.completeMs < op.invokeMs) {
      throw new Error(`operation ${String(op.id)} completes before it is invoked`);
    }
    if (op.completeMs !== undefined && op.output === undefined) {
      throw new Error(`operation ${String(op.id)} completed without an output`);
    }
  }
}

/** Calls and returns in time order; at equal times calls come first (the operations overlap). */
function buildList<I, O>(operations: ReadonlyArray<Operation<I, O>>): Node<I, O> {
  const events: Array<{ at: number; node: Node<I, O> }> = [];
  operations.forEach((op, index) => {
    const call: Node<I, O> = { op, index, isCall: true, match: null, prev: null, next: null };
    events.push({ at: op.invokeMs, node: call });
    if (op.completeMs !== undefined) {
      const ret: Node<I, O> = { op, index, isCall: false, match: call, prev: null, next: null };
      call.match = ret;
      events.push({ at: op.completeMs, node: ret });
    }
  });
  events.sort((a, b) => a.at - b.at || Number(b.node.isCall) - Number(a.node.isCall));
  const head: Node<I, O> = {
    op: operations[0] as Operation<I, O>,
    index: -1,
    isCall: false,
    match: null,
    prev: null,
    next: null,
  };
  let last = head;
  for (const { node } of events) {
    last.next = node;
    node.prev = last;
    last = node;
  }
  return head;
}

function lift<I, O>(call: Node<I, O>): void {
  unlink(call);
  if (call.match !== null) unlink(call.match);
}

// Re-inserts in the reverse order of `lift`; prev/next of removed nodes were left intact.
function unlift<I, O>(call: Node<I, O>): void {
  if (call.match !== null) relink(call.match);
  relink(call);
}

function unlink<I, O>(node: Node<I, O>): void {
  (node.prev as Node<I, O>).next = node.next;
  if (node.next !== null) node.next.prev = node.prev;
}

function relink<I, O>(node: Node<I, O>): void {
  (node.prev as Node<I, O>).next = node;
  if (node.next !== null) node.next.prev = node;
}

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31));
}

function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] = (bits[i >>> 5] as number) & ~(1 << (i & 31));
}

function bitsKey(bits: Uint32Array): string {
  let key = '';
  for (let i = 0; i < bits.length; i++) key += (bits[i] as number).toString(36) + ',';
  return key;
}

// ---------------------------------------------------------------------------------------------
// A register per key: read / write / compare-and-set. The shape a key/value store exposes.

/** null = the key is absent. */
export type RegisterValue = string | null;

export type RegisterInput =
  | { type: 'read' }
  | { type: 'write'; value: RegisterValue }
  | { type: 'cas'; expected: RegisterValue; value: RegisterValue };

export type RegisterOutput =
  | { type: 'read'; value: RegisterValue }
  | { type: 'write' }
  | { type: 'cas'; ok: boolean };

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.type) {
      case 'read':
        if (output === undefined) return state;
        return output.type === 'read' && output.value === state ? state : undefined;
      case 'write':
        return input.value;
      case 'cas': {
        const matches = state === input.expected;
        if (output === undefined) return matches ? input.value : state;
        if (output.type !== 'cas' || output.ok !== matches) return undefined;
        return matches ? input.value : state;
      }
    }
  },
  stateKey: (state) => (state === null ? '\u0000' : `=${state}`),
  describe(input, output) {
    const show = (v: RegisterValue): string => (v === null ? 'null' : JSON.stringify(v));
    switch (input.type) {
      case 'read':
        return `read -> ${output?.type === 'read' ? show(output.value) : '?'}`;
      case 'write':
        return `write ${show(input.value)}${output === undefined ? ' (?)' : ''}`;
      case 'cas':
        return `cas ${show(input.expected)} => ${show(input.value)} -> ${
          output?.type === 'cas' ? String(output.ok) : '?'
        }`;
    }
  },
};

export type KeyedRegisterOperation = Operation<RegisterInput, RegisterOutput> & { key: string };

export type KeyedCheckResult =
  | { outcome: 'ok'; keys: number; steps: number }
  | { outcome: 'violation'; key: string; result: Extract<CheckResult, { outcome: 'violation' }> }
  | { outcome: 'timeout'; key: string; steps: number };

/**
 * Check a key/value history: keys are independent registers (linearizability is local, Herlihy &
 * Wing §3.3), so each key is checked on its own, which keeps the search small.
 * Indeterminate reads constrain nothing and are dropped.
 */
export function checkRegisterHistory(
  operations: ReadonlyArray<KeyedRegisterOperation>,
  options: CheckOptions = {},
): KeyedCheckResult {
  const byKey = new Map<string, KeyedRegisterOperation[]>();
  for (const op of operations) {
    if (op.input.type === 'read' && op.completeMs === undefined) continue;
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  let steps = 0;
  for (const key of [...byKey.keys()].sort()) {
    const result = checkOperations(registerModel, byKey.get(key) as KeyedRegisterOperation[], options);
    steps += result.steps;
    if (result.outcome === 'violation') return { outcome: 'violation', key, result };
    if (result.outcome === 'timeout') return { outcome: 'timeout', key, steps: result.steps };
  }
  return { outcome: 'ok', keys: byKey.size, steps };
}
