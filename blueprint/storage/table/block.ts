/**
 * Reading one block: lazy parsing (only the restart count is read up front) and an iterator
 * that binary-searches restart points comparing keys in place and decodes entries as it
 * moves. The format is written by `BlockBuilder`; see FORMAT.md.
 *
 * @module
 */
import { CorruptionError, StorageError } from "../errors.ts";
import type { InternalIterator } from "../iterator.ts";
import { compareInternalKeyRanges, TRAILER_SIZE_BYTES } from "../internal_key.ts";
import { readUint32LE, VarintReader } from "./coding.ts";
import { GrowableBuffer } from "./growable_buffer.ts";

/**
 * Bytes of the slabs that {@link BlockIterator.key} copies keys into: one allocation serves
 * many keys (a fresh array per key was a sixth of compaction's cost). A kept key keeps its
 * slab alive, as a kept value keeps its block.
 */
const KEY_SLAB_BYTES = 4096;
/** Keys longer than this get an array of their own, so slabs are not wasted on them. */
const MAX_SLAB_KEY_BYTES = 256;

/** A verified block's contents (without trailer). Immutable once built; shared by the cache. */
export class Block {
  /** Offset of the restart array inside `data` (entries live before it). */
  readonly restarts_offset: number;
  /** Number of restart points (at least 1). */
  readonly restart_count: number;

  /**
   * @param data the block contents, trailer excluded
   * @param path file the block came from (for error messages)
   * @param file_offset offset of the block in that file (for error messages)
   */
  constructor(readonly data: Uint8Array, readonly path: string, readonly file_offset: number) {
    if (data.length < 8) {
      throw new CorruptionError(path, file_offset, `block of ${data.length} bytes is too short`);
    }
    const count = readUint32LE(data, data.length - 4);
    if (count < 1 || count > (data.length - 4) / 4) {
      throw new CorruptionError(
        path,
        file_offset,
        `block of ${data.length} bytes claims ${count} restart points`,
      );
    }
    this.restart_count = count;
    this.restarts_offset = data.length - 4 - 4 * count;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Reads the restart array with single loads instead of four byte loads each. */
  readonly #view: DataView;

  /** Bytes this block holds (its charge in the block cache). */
  get size_bytes(): number {
    return this.data.length;
  }

  /** Offset of restart point `index` inside `data`. */
  restartPoint(index: number): number {
    return this.#view.getUint32(this.restarts_offset + 4 * index, true);
  }

  /** A new iterator over this block's entries. */
  iterator(): BlockIterator {
    return new BlockIterator(this);
  }
}

/**
 * Iterator over one block. Besides the {@link InternalIterator} face it exposes the current
 * key in a reused scratch buffer (`key_scratch[0, key_length)`) and the value's position in
 * `block.data`, so the table's point lookup runs without allocating.
 */
export class BlockIterator implements InternalIterator {
  /** Holds the current key in `bytes[0, key_length)`; reused as the iterator moves. */
  readonly key_scratch: GrowableBuffer = new GrowableBuffer(64);
  /** Offset of the current value in `block.data`. */
  value_offset = 0;
  /** Length of the current value. */
  value_length = 0;
  #block: Block;
  #current = 0;
  #next_offset = 0;
  #restart_index = 0;
  #key_copy: Uint8Array | null = null;
  /** Where key copies go; bytes below `#slab_top` belong to keys handed out, never rewritten. */
  #slab: Uint8Array | null = null;
  #slab_top = 0;
  readonly #varint = new VarintReader();

  /** @param block the block to iterate (positioned invalid until a seek) */
  constructor(block: Block) {
    this.#block = block;
    this.#invalidate();
  }

  /** Re-targets this iterator at another block (positioned invalid), reusing its buffers. */
  reset(block: Block): void {
    this.#block = block;
    this.#invalidate();
  }

  /** The block being iterated. */
  get block(): Block {
    return this.#block;
  }

  /** Length of the current key in `key_scratch.bytes`. */
  get key_length(): number {
    return this.key_scratch.length;
  }

  /** Whether the iterator is at an entry. */
  valid(): boolean {
    return this.#current < this.#block.restarts_offset;
  }

  /** Moves to the first entry. */
  seekToFirst(): void {
    this.#seekToRestartPoint(0);
    this.#parseNextEntry();
  }

  /** Moves to the last entry. */
  seekToLast(): void {
    const block = this.#block;
    this.#seekToRestartPoint(block.restart_count - 1);
    while (this.#parseNextEntry() && this.#next_offset < block.restarts_offset) {
      // Walk to the entry whose successor is the restart array.
    }
  }

  /** Moves to the first entry with key >= `target` (internal order). */
  seek(target: Uint8Array): void {
    this.seekInPlace(target, target.length);
  }

  /**
   * {@link BlockIterator.seek} to the internal key `target[0, target_length)`, so callers can
   * seek to a key held in a reused buffer.
   */
  seekInPlace(target: Uint8Array, target_length: number): void {
    const block = this.#block;
    const data = block.data;
    let left = 0;
    let right = block.restart_count - 1;
    // Every key between two compared keys shares at least the smaller of their common
    // prefixes with the target, so comparisons skip bytes already known to be equal.
    let prefix_left = 0;
    let prefix_right = 0;
    while (left < right) {
      const mid = (left + right + 1) >>> 1;
      const key_start = this.#decodeRestartKeyStart(block.restartPoint(mid));
      const key_end = key_start + this.#restart_key_length;
      const known_equal = prefix_left < prefix_right ? prefix_left : prefix_right;
      if (this.#compareFrom(data, key_start, key_end, target, target_length, known_equal) < 0) {
        left = mid;
        prefix_left = this.#common_prefix;
      } else {
        right = mid - 1;
        prefix_right = this.#common_prefix;
      }
    }
    this.#seekToRestartPoint(left);
    const scratch = this.key_scratch;
    // Bytes of the entry's key shared with the previous key that also matched the target.
    let prefix_previous = 0;
    while (this.#parseNextEntry()) {
      const shared = this.#entry_shared;
      const known_equal = shared < prefix_previous ? shared : prefix_previous;
      if (
        this.#compareFrom(scratch.bytes, 0, scratch.length, target, target_length, known_equal) >= 0
      ) {
        return;
      }
      prefix_previous = this.#common_prefix;
    }
  }

  /** Shared-prefix length of the entry parsed last. */
  #entry_shared = 0;
  /** Common user-key prefix length of the last {@link BlockIterator.#compareFrom} operands. */
  #common_prefix = 0;

  /**
   * Internal-key comparison of `a[a_start, a_end)` with `target[0, target_length)` whose
   * first `known_equal` user-key bytes are known to be equal; records the user keys' common
   * prefix length in `#common_prefix`.
   */
  #compareFrom(
    a: Uint8Array,
    a_start: number,
    a_end: number,
    target: Uint8Array,
    target_length: number,
    known_equal: number,
  ): number {
    const a_user = a_end - a_start - TRAILER_SIZE_BYTES;
    const b_user = target_length - TRAILER_SIZE_BYTES;
    const n = a_user < b_user ? a_user : b_user;
    let i = known_equal < n ? known_equal : n;
    while (i < n && a[a_start + i] === target[i]) i++;
    this.#common_prefix = i;
    if (i < n) return a[a_start + i] - target[i];
    if (a_user !== b_user) return a_user - b_user;
    return compareInternalKeyRanges(a, a_start, a_end, target, 0, target_length);
  }

  /** Moves to the next entry. */
  next(): void {
    this.#assertValid("next");
    this.#parseNextEntry();
  }

  /** Moves to the previous entry (invalid before the first). */
  prev(): void {
    this.#assertValid("prev");
    const block = this.#block;
    const original = this.#current;
    while (block.restartPoint(this.#restart_index) >= original) {
      if (this.#restart_index === 0) {
        this.#invalidate();
        return;
      }
      this.#restart_index--;
    }
    this.#seekToRestartPoint(this.#restart_index);
    while (this.#parseNextEntry() && this.#next_offset < original) {
      // Walk forward to the entry just before the original one.
    }
  }

  /** The current internal key: a copy, stable after the iterator moves. */
  key(): Uint8Array {
    this.#assertValid("key");
    if (this.#key_copy === null) this.#key_copy = this.#copyKey();
    return this.#key_copy;
  }

  /** Copies the current key into the slab (a new one when full), or alone when long. */
  #copyKey(): Uint8Array {
    const scratch = this.key_scratch.bytes;
    const length = this.key_scratch.length;
    if (length > MAX_SLAB_KEY_BYTES) return scratch.slice(0, length);
    let slab = this.#slab;
    let top = this.#slab_top;
    if (slab === null || top + length > KEY_SLAB_BYTES) {
      slab = this.#slab = new Uint8Array(KEY_SLAB_BYTES);
      top = 0;
    }
    for (let i = 0; i < length; i++) slab[top + i] = scratch[i];
    this.#slab_top = top + length;
    return slab.subarray(top, top + length);
  }

  /** The current value: a view into the immutable block, stable after the iterator moves. */
  value(): Uint8Array {
    this.#assertValid("value");
    return this.#block.data.subarray(this.value_offset, this.value_offset + this.value_length);
  }

  /** Nothing to release: the block is garbage-collected when unreferenced. */
  close(): void {
    this.#invalidate();
  }

  #assertValid(operation: string): void {
    if (!this.valid()) {
      throw new StorageError(`BlockIterator.${operation}: iterator is not positioned at an entry`);
    }
  }

  #invalidate(): void {
    this.#current = this.#block.restarts_offset;
    this.#next_offset = this.#block.restarts_offset;
    this.#restart_index = this.#block.restart_count;
    this.key_scratch.clear();
    this.#key_copy = null;
  }

  #seekToRestartPoint(index: number): void {
    this.key_scratch.clear();
    this.#key_copy = null;
    this.#restart_index = index;
    this.#next_offset = this.#block.restartPoint(index);
  }

  #restart_key_length = 0;

  /** Decodes the header of the whole-key entry at `offset`; returns where its key starts. */
  #decodeRestartKeyStart(offset: number): number {
    const block = this.#block;
    const data = block.data;
    const limit = block.restarts_offset;
    let shared: number;
    let unshared: number;
    let at: number;
    if (offset + 3 <= limit && (data[offset] | data[offset + 1] | data[offset + 2]) < 128) {
      shared = data[offset];
      unshared = data[offset + 1];
      at = offset + 3;
    } else {
      const varint = this.#varint;
      shared = varint.read(data, offset, limit);
      unshared = varint.position < 0 ? 0 : varint.read(data, varint.position, limit);
      if (varint.position >= 0) varint.read(data, varint.position, limit);
      at = varint.position;
    }
    if (at < 0 || shared !== 0 || unshared < TRAILER_SIZE_BYTES || at + unshared > limit) {
      throw this.#corrupt(offset, "bad restart point entry");
    }
    this.#restart_key_length = unshared;
    return at;
  }

  /** Decodes the entry at `next_offset`; returns false (and invalidates) past the last one. */
  #parseNextEntry(): boolean {
    const block = this.#block;
    const data = block.data;
    const limit = block.restarts_offset;
    const offset = this.#next_offset;
    this.#current = offset;
    this.#key_copy = null;
    if (offset >= limit) {
      this.#invalidate();
      return false;
    }
    let shared: number;
    let unshared: number;
    let value_length: number;
    let at: number;
    if (offset + 3 <= limit && (data[offset] | data[offset + 1] | data[offset + 2]) < 128) {
      shared = data[offset];
      unshared = data[offset + 1];
      value_length = data[offset + 2];
      at = offset + 3;
    } else {
      const varint = this.#varint;
      shared = varint.read(data, offset, limit);
      unshared = varint.position < 0 ? 0 : varint.read(data, varint.position, limit);
      value_length = varint.position < 0 ? 0 : varint.read(data, varint.position, limit);
      at = varint.position;
    }
    const scratch = this.key_scratch;
    if (
      at < 0 || shared > scratch.length || shared + unshared < TRAILER_SIZE_BYTES ||
      at + unshared + value_length > limit
    ) {
      throw this.#corrupt(offset, "bad entry header");
    }
    this.#entry_shared = shared;
    scratch.length = shared;
    scratch.appendRange(data, at, at + unshared);
    this.value_offset = at + unshared;
    this.value_length = value_length;
    this.#next_offset = this.value_offset + value_length;
    while (
      this.#restart_index + 1 < block.restart_count &&
      block.restartPoint(this.#restart_index + 1) <= offset
    ) {
      this.#restart_index++;
    }
    return true;
  }

  #corrupt(entry_offset: number, detail: string): CorruptionError {
    const block = this.#block;
    return new CorruptionError(
      block.path,
      block.file_offset + entry_offset,
      `${detail} in block at offset ${block.file_offset}`,
    );
  }
}
