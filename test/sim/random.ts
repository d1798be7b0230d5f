// Every random choice of a run comes from its seed. Independent streams (network, faults,
// clients, ...) keep one part's draws from shifting another's when code changes.
import { seededRng, type Rng } from '../../node/src/raft/rng.js';

export interface SimRng extends Rng {
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Uniform real in [min, max). */
  real(min: number, max: number): number;
  /** A fresh 32-bit seed, for a child stream. */
  seed(): number;
}

export function simRng(seed: number): SimRng {
  const base = seededRng(seed);
  return {
    next: base.next,
    int: base.int,
    chance: (p) => p > 0 && base.next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[base.int(0, items.length)] as T;
    },
    real: (min, max) => min + base.next() * (max - min),
    seed: () => Math.floor(base.next() * 0x1_0000_0000) >>> 0,
  };
}

/** A named child stream of `seed` (FNV-1a of the name mixed with the seed). */
export function stream(seed: number, name: string): SimRng {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return simRng(h >>> 0);
}
