// Simulated clients: closed-loop, one operation at a time each, writing puts and compare-and-sets
// and issuing linearizable reads (ReadIndex) against whichever node they believe leads, following
// not-leader redirects. They keep the history the linearizability checker reads: an operation
// whose outcome the client never learned is indeterminate, never guessed.
import type { NodeId } from '../../node/src/raft/types.js';
import type {
  KeyedRegisterOperation,
  RegisterInput,
  RegisterOutput,
  RegisterValue,
} from '../support/linearizability.js';
import type { AcknowledgedWrite } from './invariants/acknowledged-writes.js';
import { encodeCommand, type KvCommand } from './kv.js';
import type { SimNode } from './node.js';
import type { WorkloadOptions } from './options.js';
import type { SimRng } from './random.js';
import type { Trace } from './trace.js';

export interface ClientWorld {
  now(): number;
  after(delayMs: number, run: () => void): void;
  nodeIds(): readonly NodeId[];
  node(id: NodeId): SimNode;
  nextReadId(): number;
  trace: Trace;
}

type OpState = 'running' | 'ok' | 'indeterminate' | 'abandoned';

interface ClientOp {
  id: number;
  client: number;
  key: string;
  input: RegisterInput;
  invokeMs: number;
  deadlineMs: number;
  state: OpState;
  output?: RegisterOutput;
  completeMs?: number;
  ackIndex?: number;
  /** A proposal (or read) is out and its outcome unknown: giving up makes the op indeterminate. */
  inFlight: boolean;
  /** Incremented per attempt: callbacks of a superseded attempt are ignored. */
  attempt: number;
}

export interface ClientStats {
  ok: number;
  indeterminate: number;
  abandoned: number;
  redirects: number;
}

export class Clients {
  private ops: ClientOp[] = [];
  private nextOpId = 1;
  private leaderHint: NodeId | null = null;
  private running = false;
  readonly stats: ClientStats = { ok: 0, indeterminate: 0, abandoned: 0, redirects: 0 };
  /** Last value each key was seen to hold: gives compare-and-set a fair chance to succeed. */
  private lastSeen = new Map<string, RegisterValue>();

  constructor(
    private readonly world: ClientWorld,
    private readonly rng: SimRng,
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.running = true;
    for (let c = 0; c < this.options.clients; c++) {
      this.world.after(this.rng.real(0, 20), () => this.nextOp(c));
    }
  }

  /** No new operations after this; running ones finish or time out. */
  stop(): void {
    this.running = false;
  }

  idle(): boolean {
    return this.ops.every((o) => o.state !== 'running');
  }

  history(): KeyedRegisterOperation[] {
    return this.ops
      .filter((o) => o.state === 'ok' || o.state === 'indeterminate')
      .map((o) => ({
        id: o.id,
        clientId: o.client,
        key: o.key,
        input: o.input,
        output: o.state === 'ok' ? o.output : undefined,
        invokeMs: o.invokeMs,
        completeMs: o.state === 'ok' ? o.completeMs : undefined,
      }));
  }

  acknowledgedWrites(): AcknowledgedWrite[] {
    return this.ops
      .filter((o) => o.state === 'ok' && o.input.type !== 'read' && o.ackIndex !== undefined)
      .map((o) => ({ opId: o.id, key: o.key, index: o.ackIndex as number }));
  }

  private nextOp(client: number): void {
    if (!this.running) return;
    const now = this.world.now();
    const key = `k${this.rng.int(0, this.options.keys)}`;
    const id = this.nextOpId++;
    const roll = this.rng.next();
    let input: RegisterInput;
    if (roll < this.options.readRate) {
      input = { type: 'read' };
    } else if (roll < this.options.readRate + this.options.casRate) {
      const expected = this.rng.chance(0.8) ? (this.lastSeen.get(key) ?? null) : `c${client}-${this.rng.int(1, id + 1)}`;
      input = { type: 'cas', expected, value: `c${client}-${id}` };
    } else {
      input = { type: 'write', value: `c${client}-${id}` };
    }
    const op: ClientOp = {
      id,
      client,
      key,
      input,
      invokeMs: now,
      deadlineMs: now + this.options.opTimeoutMs,
      state: 'running',
      inFlight: false,
      attempt: 0,
    };
    this.ops.push(op);
    this.world.after(this.options.opTimeoutMs, () => this.giveUp(op));
    this.attempt(op, this.leaderHint ?? this.randomNode());
  }

  private attempt(op: ClientOp, target: NodeId): void {
    if (op.state !== 'running') return;
    if (this.world.now() >= op.deadlineMs) return this.giveUp(op);
    const attempt = ++op.attempt;
    op.inFlight = false;
    const node = this.world.node(target);
    if (!node.up) return this.retry(op, null, 1, 5);
    if (op.input.type === 'read') {
      const readId = this.world.nextReadId();
      const result = node.readIndex(readId, {
        key: op.key,
        served: (value) => {
          if (op.attempt !== attempt) return;
          this.leaderHint = target;
          this.complete(op, { type: 'read', value });
        },
        failed: () => {
          if (op.attempt !== attempt) return;
          this.retry(op, null, 2, 20);
        },
      });
      if (!result.ok) return this.retry(op, result.leaderId, 1, 3, 10, 40);
      op.inFlight = true;
      return;
    }
    const command: KvCommand =
      op.input.type === 'write'
        ? { op: 'put', id: op.id, key: op.key, value: op.input.value as string }
        : { op: 'cas', id: op.id, key: op.key, expected: op.input.expected, value: op.input.value as string };
    const result = node.propose(encodeCommand(command), op.id, (outcome) => {
      if (op.attempt !== attempt || op.state !== 'running') return;
      if (outcome.kind === 'applied') {
        op.ackIndex = outcome.index;
        this.leaderHint = target;
        this.complete(op, op.input.type === 'write' ? { type: 'write' } : { type: 'cas', ok: outcome.result?.ok === true });
      } else if (outcome.kind === 'rejected') {
        // Another entry took the index: this proposal is dead, so trying again is safe.
        this.retry(op, null, 1, 10);
      } else {
        this.indeterminate(op);
      }
    });
    if (!result.ok) return this.retry(op, result.leaderId, 1, 3, 10, 40);
    op.inFlight = true;
  }

  /** Redirect to `leaderId` quickly, or wait a little and try a random node. */
  private retry(op: ClientOp, leaderId: NodeId | null, minMs: number, maxMs: number, idleMinMs = minMs, idleMaxMs = maxMs): void {
    op.inFlight = false;
    op.attempt++;
    if (leaderId !== null) this.stats.redirects++;
    const target = leaderId ?? this.randomNode();
    const delay = leaderId !== null ? this.rng.real(minMs, maxMs) : this.rng.real(idleMinMs, idleMaxMs);
    this.world.after(delay, () => this.attempt(op, target));
  }

  private complete(op: ClientOp, output: RegisterOutput): void {
    op.state = 'ok';
    op.output = output;
    op.completeMs = this.world.now();
    op.inFlight = false;
    this.stats.ok++;
    if (output.type === 'read') this.lastSeen.set(op.key, output.value);
    if (op.input.type === 'write' || (output.type === 'cas' && output.ok)) {
      this.lastSeen.set(op.key, (op.input as { value: RegisterValue }).value);
    }
    if (this.world.trace.detailed) this.world.trace.log(`c${op.client}`, `#${op.id} ${JSON.stringify(op.input)} -> ${JSON.stringify(output)}`);
    this.scheduleNext(op.client);
  }

  private indeterminate(op: ClientOp): void {
    op.state = 'indeterminate';
    op.attempt++;
    this.stats.indeterminate++;
    if (this.world.trace.detailed) this.world.trace.log(`c${op.client}`, `#${op.id} ${JSON.stringify(op.input)} -> unknown`);
    this.scheduleNext(op.client);
  }

  private giveUp(op: ClientOp): void {
    if (op.state !== 'running') return;
    if (op.inFlight) return this.indeterminate(op);
    // Never proposed (or every proposal is known dead): it had no effect.
    op.state = 'abandoned';
    op.attempt++;
    this.stats.abandoned++;
    this.scheduleNext(op.client);
  }

  private scheduleNext(client: number): void {
    this.world.after(this.rng.real(this.options.thinkMinMs, this.options.thinkMaxMs), () => this.nextOp(client));
  }

  private randomNode(): NodeId {
    return this.rng.pick(this.world.nodeIds());
  }
}
