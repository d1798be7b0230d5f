import { describe, expect, it } from 'vitest';
import { seededRng } from '../../node/src/raft/rng.js';
import {
  checkOperations,
  checkRegisterHistory,
  registerModel,
  type KeyedRegisterOperation,
  type RegisterValue,
} from './linearizability.js';

// Small builders so that each history reads like a timeline: [invoke, complete].
let nextId = 0;
function write(key: string, value: RegisterValue, at: [number, number | undefined]): KeyedRegisterOperation {
  return {
    id: nextId++,
    key,
    input: { type: 'write', value },
    output: at[1] === undefined ? undefined : { type: 'write' },
    invokeMs: at[0],
    completeMs: at[1],
  };
}
function read(key: string, value: RegisterValue, at: [number, number]): KeyedRegisterOperation {
  return { id: nextId++, key, input: { type: 'read' }, output: { type: 'read', value }, invokeMs: at[0], completeMs: at[1] };
}
function cas(
  key: string,
  expected: RegisterValue,
  value: RegisterValue,
  ok: boolean | undefined,
  at: [number, number | undefined],
): KeyedRegisterOperation {
  return {
    id: nextId++,
    key,
    input: { type: 'cas', expected, value },
    output: ok === undefined ? undefined : { type: 'cas', ok },
    invokeMs: at[0],
    completeMs: ok === undefined ? undefined : at[1],
  };
}

describe('linearizability checker (register per key)', () => {
  describe('accepts valid histories', () => {
    it('an empty history', () => {
      expect(checkRegisterHistory([]).outcome).toBe('ok');
    });

    it('a sequential history', () => {
      const h = [
        read('a', null, [0, 1]),
        write('a', 'x', [2, 3]),
        read('a', 'x', [4, 5]),
        cas('a', 'x', 'y', true, [6, 7]),
        cas('a', 'x', 'z', false, [8, 9]),
        read('a', 'y', [10, 11]),
      ];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
    });

    it('concurrent writes observed in either order', () => {
      const h = [
        write('a', 'x', [0, 10]),
        write('a', 'y', [1, 9]),
        read('a', 'x', [11, 12]),
        read('a', 'x', [13, 14]),
      ];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
      const h2 = [write('a', 'x', [0, 10]), write('a', 'y', [1, 9]), read('a', 'y', [11, 12])];
      expect(checkRegisterHistory(h2).outcome).toBe('ok');
    });

    it('a read concurrent with a write may see the old or the new value', () => {
      const h = [
        write('a', 'x', [0, 1]),
        write('a', 'y', [2, 10]),
        read('a', 'x', [3, 4]),
        read('a', 'y', [5, 6]),
      ];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
    });

    it('operations touching at one instant count as concurrent', () => {
      const h = [write('a', 'x', [0, 5]), read('a', 'x', [5, 6]), read('a', null, [0, 5])];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
    });

    it('an indeterminate write that is later observed', () => {
      const h = [write('a', 'x', [0, undefined]), read('a', null, [1, 2]), read('a', 'x', [50, 51])];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
    });

    it('an indeterminate write that never took effect', () => {
      const h = [write('a', 'x', [0, undefined]), read('a', null, [1, 2]), read('a', null, [100, 101])];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
    });

    it('an indeterminate CAS that took effect', () => {
      const h = [
        write('a', 'x', [0, 1]),
        cas('a', 'x', 'y', undefined, [2, undefined]),
        read('a', 'y', [30, 31]),
      ];
      expect(checkRegisterHistory(h).outcome).toBe('ok');
    });

    it('keys are independent registers', () => {
      const h = [write('a', 'x', [0, 1]), write('b', 'y', [2, 3]), read('a', 'x', [4, 5]), read('b', 'y', [4, 5])];
      const result = checkRegisterHistory(h);
      expect(result).toMatchObject({ outcome: 'ok', keys: 2 });
    });

    it('many overlapping clients with unique values (memoization keeps it small)', () => {
      const h: KeyedRegisterOperation[] = [];
      // 12 clients each write once in one overlapping window, then everyone reads the winner.
      for (let c = 0; c < 12; c++) h.push(write('k', `v${c}`, [c, 100 + c]));
      for (let c = 0; c < 12; c++) h.push(read('k', 'v7', [200 + c, 300]));
      const result = checkRegisterHistory(h);
      expect(result.outcome).toBe('ok');
      expect(result.outcome === 'ok' && result.steps).toBeLessThan(100_000);
    });
  });

  describe('rejects invalid histories', () => {
    it('a stale read (reads the old value after a write completed)', () => {
      const h = [write('a', 'x', [0, 1]), write('a', 'y', [2, 3]), read('a', 'x', [4, 5])];
      const result = checkRegisterHistory(h);
      expect(result.outcome).toBe('violation');
      expect(result.outcome === 'violation' && result.key).toBe('a');
    });

    it('a read that goes back in time (new value, then old, both after the write)', () => {
      const h = [
        write('a', 'x', [0, 1]),
        write('a', 'y', [2, 20]),
        read('a', 'y', [3, 4]),
        read('a', 'x', [5, 6]),
      ];
      expect(checkRegisterHistory(h).outcome).toBe('violation');
    });

    it('a lost write (acknowledged, then never observed)', () => {
      const h = [write('a', 'x', [0, 1]), read('a', null, [2, 3])];
      expect(checkRegisterHistory(h).outcome).toBe('violation');
    });

    it('a read of a value nobody wrote', () => {
      expect(checkRegisterHistory([read('a', 'ghost', [0, 1])]).outcome).toBe('violation');
    });

    it('two CAS from the same expected value both succeed', () => {
      const h = [
        write('a', 'x', [0, 1]),
        cas('a', 'x', 'y', true, [2, 10]),
        cas('a', 'x', 'z', true, [3, 11]),
      ];
      const result = checkRegisterHistory(h);
      expect(result.outcome).toBe('violation');
      if (result.outcome === 'violation') expect(result.result.message).toMatch(/cas/);
    });

    it('a CAS that failed although the value matched', () => {
      const h = [write('a', 'x', [0, 1]), cas('a', 'x', 'y', false, [2, 3])];
      expect(checkRegisterHistory(h).outcome).toBe('violation');
    });

    it('an indeterminate write cannot take effect before it was invoked', () => {
      const h = [read('a', 'x', [0, 1]), write('a', 'x', [5, undefined])];
      expect(checkRegisterHistory(h).outcome).toBe('violation');
    });

    it('a violation in one key is reported with that key', () => {
      const h = [write('a', 'x', [0, 1]), read('a', 'x', [2, 3]), write('b', 'x', [0, 1]), read('b', null, [2, 3])];
      const result = checkRegisterHistory(h);
      expect(result).toMatchObject({ outcome: 'violation', key: 'b' });
    });
  });

  describe('contract', () => {
    it('stops at the step budget instead of hanging', () => {
      const h: KeyedRegisterOperation[] = [];
      for (let c = 0; c < 16; c++) h.push(write('k', `v${c}`, [0, 1000]));
      h.push(read('k', 'missing', [2000, 2001]));
      const result = checkRegisterHistory(h, { maxSteps: 1000 });
      expect(result.outcome).toBe('timeout');
    });

    it('rejects malformed histories', () => {
      expect(() => checkOperations(registerModel, [{ ...read('a', null, [5, 4]) }])).toThrow(/before/);
      const op = read('a', null, [0, 1]);
      expect(() => checkOperations(registerModel, [op, op])).toThrow(/duplicate/);
      expect(() =>
        checkOperations(registerModel, [{ id: 'w', input: { type: 'read' }, output: undefined, invokeMs: 0, completeMs: 1 }]),
      ).toThrow(/without an output/);
    });

    it('works with any model (a counter)', () => {
      type In = { add: number } | { get: true };
      const counter = {
        init: () => 0,
        step: (s: number, i: In, o: number | undefined) => ('add' in i ? s + i.add : o === undefined || o === s ? s : undefined),
        stateKey: (s: number) => String(s),
      };
      const ok = checkOperations(counter, [
        { id: 1, input: { add: 2 }, output: 0, invokeMs: 0, completeMs: 10 },
        { id: 2, input: { add: 3 }, output: 0, invokeMs: 1, completeMs: 9 },
        { id: 3, input: { get: true }, output: 3, invokeMs: 2, completeMs: 3 },
        { id: 4, input: { get: true }, output: 5, invokeMs: 11, completeMs: 12 },
      ]);
      expect(ok.outcome).toBe('ok');
      const bad = checkOperations(counter, [
        { id: 1, input: { add: 2 }, output: 0, invokeMs: 0, completeMs: 1 },
        { id: 2, input: { get: true }, output: 1, invokeMs: 2, completeMs: 3 },
      ]);
      expect(bad.outcome).toBe('violation');
    });
  });

  describe('randomized: histories generated from real linearization points', () => {
    // Each operation takes effect at a random instant inside its [invoke, complete] window, so the
    // history is linearizable by construction; corrupting one observed value must be detected.
    function generate(seed: number): KeyedRegisterOperation[] {
      const rng = seededRng(seed);
      const ops: Array<KeyedRegisterOperation & { pointMs: number }> = [];
      for (let i = 0; i < 40; i++) {
        const invokeMs = rng.int(0, 400);
        const pointMs = invokeMs + rng.int(0, 30) + rng.next();
        const completeMs = pointMs + rng.int(0, 30);
        const roll = rng.next();
        const input =
          roll < 0.4
            ? ({ type: 'read' } as const)
            : roll < 0.7
              ? ({ type: 'write', value: `w${i}` } as const)
              : ({ type: 'cas', expected: rng.next() < 0.5 ? null : `w${rng.int(0, i + 1)}`, value: `c${i}` } as const);
        ops.push({ id: i, key: `k${rng.int(0, 2)}`, input, output: undefined, invokeMs, completeMs, pointMs });
      }
      const state = new Map<string, RegisterValue>();
      for (const op of [...ops].sort((a, b) => a.pointMs - b.pointMs)) {
        const before = state.get(op.key) ?? null;
        if (op.input.type === 'read') op.output = { type: 'read', value: before };
        else if (op.input.type === 'write') {
          op.output = { type: 'write' };
          state.set(op.key, op.input.value);
        } else {
          const ok = before === op.input.expected;
          op.output = { type: 'cas', ok };
          if (ok) state.set(op.key, op.input.value);
        }
        // Some writes lose their answer: the history must stay acceptable.
        if (op.input.type !== 'read' && rng.next() < 0.15) {
          op.output = undefined;
          op.completeMs = undefined;
        }
      }
      return ops.map(({ pointMs: _pointMs, ...op }) => op);
    }

    it('accepts 300 generated histories', () => {
      for (let seed = 1; seed <= 300; seed++) {
        const result = checkRegisterHistory(generate(seed));
        expect(result.outcome, `seed ${seed}`).toBe('ok');
      }
    });

    it('rejects them once a completed read observes a value nobody wrote', () => {
      let checked = 0;
      for (let seed = 1; seed <= 100; seed++) {
        const history = generate(seed);
        const victim = history.find((o) => o.input.type === 'read' && o.completeMs !== undefined);
        if (victim === undefined) continue;
        victim.output = { type: 'read', value: 'never-written' };
        expect(checkRegisterHistory(history).outcome, `seed ${seed}`).toBe('violation');
        checked++;
      }
      expect(checked).toBeGreaterThan(90);
    });
  });
});
