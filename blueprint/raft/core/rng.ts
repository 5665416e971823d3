/**
 * A small seeded pseudo-random generator (SplitMix32 variant of Mulberry32) for election
 * timeouts and the simulator. Deterministic: the same seed gives the same sequence.
 *
 * @module
 */
import type { Rng } from "./types.ts";

/** Seeded {@link Rng}; the whole state is one 32-bit integer, so runs replay exactly. */
export class SeededRng implements Rng {
  #state: number;

  /** Start the sequence of `seed` (any integer; only its low 32 bits matter). */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) {
      throw new RangeError(`rng seed must be an integer, got ${seed}`);
    }
    this.#state = seed >>> 0;
  }

  /** Next raw value, uniform in [0, 2^32). */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, bound_exclusive); bound must be a positive integer ≤ 2^32. */
  nextInt(bound_exclusive: number): number {
    if (!Number.isInteger(bound_exclusive) || bound_exclusive <= 0 || bound_exclusive > 2 ** 32) {
      throw new RangeError(`rng bound must be an integer in [1, 2^32], got ${bound_exclusive}`);
    }
    return Math.floor((this.nextUint32() / 2 ** 32) * bound_exclusive);
  }

  /** True with probability `p` in [0, 1]. */
  chance(p: number): boolean {
    return this.nextUint32() / 2 ** 32 < p;
  }

  /** A new generator whose seed derives from this one (for independent streams). */
  fork(): SeededRng {
    return new SeededRng(this.nextUint32());
  }
}
