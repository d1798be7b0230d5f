// The chaos workload: concurrent clients over a few keys doing linearizable reads, writes of
// unique values, deletes, and compare-and-set (read, then If-Match on the ETag it got; a create is
// If-None-Match: *). Every operation is recorded with its invoke and complete times, as the
// register model of test/support/linearizability.ts sees it:
// - 2xx (and 412 for a conditional write, 404 for a delete): completed, with its output;
// - 503, or a refused connection: not applied (design section 3), left out of the history;
// - 504, 5xx, timeouts, resets: indeterminate (no complete time), the write may or may not apply.
import { seededRng, type Rng } from '../../node/src/raft/rng.js';
import type { KeyedRegisterOperation, RegisterInput, RegisterOutput } from '../support/linearizability.js';
import { ChaosHttp, type HttpOutcome } from './http.js';

export interface ClientOp {
  id: number;
  client: number;
  key: string;
  node: string;
  kind: 'read' | 'write' | 'delete' | 'cas' | 'create';
  input: RegisterInput;
  output: RegisterOutput | undefined;
  invokeMs: number;
  completeMs: number | undefined;
  /** completed | failed (not applied) | indeterminate */
  result: 'ok' | 'failed' | 'indeterminate';
  status: number | string;
  /** Store revision the write was acknowledged at (mod revision of the key after it). */
  revision?: number;
  /** The value a write or successful CAS stored (also in `input`). */
  value?: string | null;
}

export interface WorkloadOptions {
  seed: number;
  clients: number;
  keys: string[];
  /** Where each client sends its requests (a node's real client URL), chosen per operation. */
  targets: () => { id: string; url: string }[];
  opTimeoutMs: number;
  /** Pause between one client's operations. */
  thinkMsMax: number;
  now: () => number;
}

export class Workload {
  readonly ops: ClientOp[] = [];
  /** Answers the contract does not allow (e.g. 400 on a valid request, 500). */
  readonly unexpected: string[] = [];
  private stopped = false;
  private nextId = 0;
  private readonly http = new ChaosHttp();
  private running: Promise<void>[] = [];

  constructor(private readonly o: WorkloadOptions) {}

  start(): void {
    this.running = Array.from({ length: this.o.clients }, (_, c) => this.client(c, seededRng(this.o.seed * 1000 + c + 1)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
    this.http.close();
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const op of this.ops) out[`${op.kind}:${op.result}`] = (out[`${op.kind}:${op.result}`] ?? 0) + 1;
    return out;
  }

  /** The history as the checker takes it (failed operations had no effect and are left out). */
  history(): KeyedRegisterOperation[] {
    return this.ops
      .filter((op) => op.result !== 'failed')
      .map((op) => ({ id: op.id, clientId: op.client, key: op.key, input: op.input, output: op.output, invokeMs: op.invokeMs, completeMs: op.completeMs }));
  }

  private async client(c: number, rng: Rng): Promise<void> {
    let seq = 0;
    // A CAS reads first; the read is an operation of its own in the history.
    while (!this.stopped) {
      const key = this.o.keys[rng.int(0, this.o.keys.length)]!;
      const dice = rng.next();
      const value = `c${c}-${++seq}`;
      if (dice < 0.35) {
        await this.read(c, rng, key);
      } else if (dice < 0.6) {
        await this.write(c, rng, key, value);
      } else if (dice < 0.65) {
        await this.del(c, rng, key);
      } else {
        const seen = await this.read(c, rng, key);
        if (seen !== undefined && !this.stopped) await this.cas(c, rng, key, seen, value);
      }
      const think = rng.int(0, this.o.thinkMsMax + 1);
      if (think > 0) await new Promise((r) => setTimeout(r, think));
    }
  }

  private pick(rng: Rng): { id: string; url: string } | null {
    const targets = this.o.targets();
    return targets.length === 0 ? null : targets[rng.int(0, targets.length)]!;
  }

  private async call(
    c: number,
    rng: Rng,
    key: string,
    kind: ClientOp['kind'],
    input: RegisterInput,
    method: string,
    query: string,
    body: string | undefined,
    headers: Record<string, string>,
    interpret: (r: Extract<HttpOutcome, { kind: 'response' }>) => { output: RegisterOutput; revision?: number } | null,
  ): Promise<{ op: ClientOp; response?: Extract<HttpOutcome, { kind: 'response' }> }> {
    const target = this.pick(rng);
    const op: ClientOp = { id: this.nextId++, client: c, key, node: target?.id ?? '-', kind, input, output: undefined, invokeMs: this.o.now(), completeMs: undefined, result: 'failed', status: 'no-target' };
    if (input.type !== 'read') op.value = input.value;
    this.ops.push(op);
    if (target === null) {
      await new Promise((r) => setTimeout(r, 50));
      return { op };
    }
    const outcome = await this.http.request(target.url, method, `/v1/kv/${key}${query}`, { body, headers, timeoutMs: this.o.opTimeoutMs });
    if (outcome.kind === 'refused') {
      op.status = outcome.error;
      // A dead node: do not spin on it.
      await new Promise((r) => setTimeout(r, 20));
      return { op };
    }
    if (outcome.kind === 'unknown') {
      op.status = outcome.error;
      op.result = 'indeterminate';
      return { op };
    }
    op.status = outcome.status;
    if (outcome.status === 503) {
      await new Promise((r) => setTimeout(r, 20));
      return { op, response: outcome };
    }
    const interpreted = interpret(outcome);
    if (interpreted === null) {
      op.result = 'indeterminate';
      if (outcome.status !== 504) this.unexpected.push(`${kind} ${key} on ${target.id}: ${outcome.status} ${outcome.body.slice(0, 200)}`);
      return { op, response: outcome };
    }
    op.completeMs = this.o.now();
    op.output = interpreted.output;
    if (interpreted.revision !== undefined) op.revision = interpreted.revision;
    op.result = 'ok';
    return { op, response: outcome };
  }

  /** Returns what a CAS may expect next: the value and its ETag, or null for absent; undefined if unknown. */
  private async read(c: number, rng: Rng, key: string): Promise<{ value: string; etag: string } | null | undefined> {
    const { op, response } = await this.call(c, rng, key, 'read', { type: 'read' }, 'GET', '', undefined, {}, (r) => {
      if (r.status === 200) return { output: { type: 'read', value: r.body } };
      if (r.status === 404) return { output: { type: 'read', value: null } };
      return null;
    });
    if (op.result !== 'ok' || response === undefined) return undefined;
    if (response.status === 404) return null;
    const etag = response.headers.etag;
    return typeof etag === 'string' ? { value: response.body, etag } : undefined;
  }

  private async write(c: number, rng: Rng, key: string, value: string): Promise<void> {
    await this.call(c, rng, key, 'write', { type: 'write', value }, 'PUT', '', value, { 'content-type': 'text/plain' }, (r) =>
      r.status === 200 || r.status === 201 ? { output: { type: 'write' }, revision: revisionOf(r.body) } : null,
    );
  }

  private async del(c: number, rng: Rng, key: string): Promise<void> {
    await this.call(c, rng, key, 'delete', { type: 'write', value: null }, 'DELETE', '', undefined, {}, (r) => {
      if (r.status === 200) return { output: { type: 'write' }, revision: revisionOf(r.body) };
      // Absent already: a delete of nothing is still a write of "absent" to the register.
      if (r.status === 404) return { output: { type: 'write' } };
      return null;
    });
  }

  private async cas(c: number, rng: Rng, key: string, seen: { value: string; etag: string } | null, value: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (seen === null) headers['if-none-match'] = '*';
    else headers['if-match'] = seen.etag;
    const kind = seen === null ? 'create' : 'cas';
    await this.call(c, rng, key, kind, { type: 'cas', expected: seen?.value ?? null, value }, 'PUT', '', value, headers, (r) => {
      if (r.status === 200 || r.status === 201) return { output: { type: 'cas', ok: true }, revision: revisionOf(r.body) };
      if (r.status === 412) return { output: { type: 'cas', ok: false } };
      return null;
    });
  }
}

function revisionOf(body: string): number | undefined {
  try {
    const r = (JSON.parse(body) as { revision?: unknown }).revision;
    return typeof r === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}
