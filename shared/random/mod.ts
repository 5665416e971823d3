/**
 * Seeded pseudo-random numbers for tests, simulations and benchmarks: a failing case or a
 * benchmark's key order replays exactly from its seed. mulberry32: small, fast, and good
 * enough for choosing operations and keys (not for anything secret).
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const index = Math.floor(random() * 100);
 * ```
 *
 * @module
 */

/**
 * A generator of numbers in [0, 1) from a 32-bit `seed`.
 *
 * @param seed any number; its low 32 bits are used
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
