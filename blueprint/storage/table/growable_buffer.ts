/**
 * An append-only byte buffer that grows geometrically, so building a block or a table copies
 * each byte a bounded number of times.
 *
 * @module
 */
import { StorageError } from "../errors.ts";

/** Hard ceiling for one buffer: far above any block or filter a table writes. */
export const MAX_BUFFER_BYTES = 1 << 30;

/**
 * Below this length a part of a larger array is copied by a loop: `subarray` makes a view per
 * call, which costs more than the loop (a flush copies 100-byte values out of a memtable arena).
 */
const LOOP_COPY_MAX_BYTES = 256;

/** Bytes appended so far live in `bytes[0, length)`. */
export class GrowableBuffer {
  /** Backing storage; replaced when it grows, so do not keep references across appends. */
  bytes: Uint8Array;
  /** Bytes in use. */
  length = 0;

  /** @param initial_capacity_bytes starting capacity */
  constructor(initial_capacity_bytes: number) {
    this.bytes = new Uint8Array(Math.max(16, initial_capacity_bytes));
  }

  /** Makes room for `extra_bytes` more bytes after `length`. */
  reserve(extra_bytes: number): void {
    const needed = this.length + extra_bytes;
    if (needed <= this.bytes.length) return;
    if (needed > MAX_BUFFER_BYTES) {
      throw new StorageError(
        `buffer would grow to ${needed} bytes; at most ${MAX_BUFFER_BYTES} are allowed`,
      );
    }
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(Math.min(capacity, MAX_BUFFER_BYTES));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** Appends `data[start, end)`. Short copies use a loop: cheaper than `set` for small keys. */
  appendRange(data: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.reserve(n);
    const out = this.bytes;
    let at = this.length;
    const whole = start === 0 && end === data.length;
    if (n < 32 || (n < LOOP_COPY_MAX_BYTES && !whole)) {
      for (let i = start; i < end; i++) out[at++] = data[i];
    } else if (whole) {
      out.set(data, at);
    } else {
      out.set(data.subarray(start, end), at);
    }
    this.length += n;
  }

  /** Appends all of `data`. */
  append(data: Uint8Array): void {
    this.appendRange(data, 0, data.length);
  }

  /** Forgets the contents, keeping the capacity. */
  clear(): void {
    this.length = 0;
  }

  /** A view of the contents (valid until the next append or clear). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}
