/**
 * Copies of small values carved from shared slabs, as Node's Buffer pool does: a point read
 * returns its own copy of the value without allocating one ArrayBuffer per read (an
 * ArrayBuffer is a native allocation the GC tracks one by one; a million reads made a
 * million of them).
 *
 * @module
 */

/** Size of one slab. A returned value keeps its whole slab alive while referenced. */
export const VALUE_SLAB_BYTES = 64 << 10;
/** Values longer than this get their own buffer (a slab would waste too much on them). */
export const MAX_POOLED_VALUE_BYTES = 1 << 10;

/**
 * Hands out copies of values. Each copy is a view of its own bytes: writing to it changes no
 * other copy (the slab beyond the view is never handed out twice).
 *
 * @example
 * ```ts
 * const pool = new ValuePool();
 * const copy = pool.copy(block.subarray(10, 110)); // 100 bytes, independent of the block
 * ```
 */
export class ValuePool {
  #slab = new Uint8Array(VALUE_SLAB_BYTES);
  #used_bytes = 0;

  /** A copy of `value`: a view of a shared slab for short values, a new buffer otherwise. */
  copy(value: Uint8Array): Uint8Array {
    const length = value.length;
    if (length > MAX_POOLED_VALUE_BYTES) return value.slice();
    if (this.#used_bytes + length > VALUE_SLAB_BYTES) {
      this.#slab = new Uint8Array(VALUE_SLAB_BYTES);
      this.#used_bytes = 0;
    }
    const start = this.#used_bytes;
    const slab = this.#slab;
    for (let i = 0; i < length; i++) slab[start + i] = value[i];
    // 8-byte steps keep each copy aligned, as a fresh buffer would be.
    this.#used_bytes = (start + length + 7) & ~7;
    return slab.subarray(start, start + length);
  }
}
