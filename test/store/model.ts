// A naive reference model of the store's semantics (design §3): a full copy of the key space at
// every revision. Slow and obviously right; the MVCC store must agree with it.
import type { Command } from '../../node/src/store/commands.js';

export interface ModelKv {
  value: Uint8Array;
  contentType: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

export type ModelOutcome =
  | { ok: true; type: Command['type']; created?: boolean; version?: number }
  | { ok: false; code: string; modRevision?: number | null };

export class Model {
  /** states[r] is the key space as of revision r. */
  readonly states: Array<Map<string, ModelKv>> = [new Map()];
  /** Every change ever made, per key, oldest first (tombstones as null). */
  readonly changes = new Map<string, Array<{ revision: number; kv: ModelKv | null }>>();
  compacted = 0;

  get revision(): number {
    return this.states.length - 1;
  }

  current(key: string): ModelKv | null {
    return (this.states[this.revision] as Map<string, ModelKv>).get(key) ?? null;
  }

  at(key: string, revision: number): ModelKv | null {
    return (this.states[revision] as Map<string, ModelKv>).get(key) ?? null;
  }

  private commit(key: string, kv: ModelKv | null): void {
    const next = new Map(this.states[this.revision]);
    if (kv === null) next.delete(key);
    else next.set(key, kv);
    this.states.push(next);
    const list = this.changes.get(key) ?? [];
    list.push({ revision: this.revision, kv });
    this.changes.set(key, list);
  }

  apply(cmd: Command): ModelOutcome {
    if (cmd.type === 'compact') {
      if (cmd.revision > this.revision) return { ok: false, code: 'future_revision' };
      this.compacted = Math.max(this.compacted, cmd.revision);
      return { ok: true, type: 'compact' };
    }
    const cur = this.current(cmd.key);
    if (cmd.type === 'put' && cmd.ifNoneMatch === true && cur !== null) {
      return { ok: false, code: 'precondition_failed', modRevision: cur.modRevision };
    }
    if (cmd.ifMatchModRevision !== undefined && cur?.modRevision !== cmd.ifMatchModRevision) {
      return { ok: false, code: 'precondition_failed', modRevision: cur?.modRevision ?? null };
    }
    let value: Uint8Array;
    let contentType: string;
    if (cmd.type === 'delete') {
      if (cur === null) return { ok: false, code: 'not_found' };
      this.commit(cmd.key, null);
      return { ok: true, type: 'delete' };
    } else if (cmd.type === 'rollback') {
      if (cmd.toRevision > this.revision) return { ok: false, code: 'future_revision' };
      if (cmd.toRevision < this.compacted) return { ok: false, code: 'compacted' };
      const then = this.at(cmd.key, cmd.toRevision);
      if (then === null) return { ok: false, code: 'not_found' };
      value = then.value;
      contentType = then.contentType;
    } else {
      value = cmd.value;
      contentType = cmd.contentType;
    }
    const revision = this.revision + 1;
    const kv: ModelKv = {
      value,
      contentType,
      createRevision: cur?.createRevision ?? revision,
      modRevision: revision,
      version: (cur?.version ?? 0) + 1,
    };
    this.commit(cmd.key, kv);
    return { ok: true, type: cmd.type, created: cur === null, version: kv.version };
  }
}
