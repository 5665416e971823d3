/**
 * Builds one block: prefix-compressed entries with restart points.
 *
 * Entry: `shared` varint ‖ `unshared` varint ‖ `value_length` varint ‖ key bytes after the
 * shared prefix ‖ value. Every `restart_interval` entries the key is stored whole (shared =
 * 0) and its offset is recorded; the block ends with the restart offsets (uint32 LE each) and
 * their count (uint32 LE). See FORMAT.md.
 *
 * @module
 */
import { writeUint32LE, writeVarint } from "./coding.ts";
import { GrowableBuffer } from "./growable_buffer.ts";

/** Worst-case header bytes of one entry (three varints of numbers below 2^32). */
const MAX_ENTRY_HEADER_BYTES = 15;

/** Accumulates entries for one block; reusable after {@link BlockBuilder.reset}. */
export class BlockBuilder {
  readonly #buffer: GrowableBuffer;
  #restarts: Uint32Array = new Uint32Array(64);
  #restart_count = 0;
  #entries_since_restart = 0;
  /** The last key added, in `bytes[0, length)`. Read only: the builder owns it. */
  readonly last_key: GrowableBuffer = new GrowableBuffer(64);
  #entry_count = 0;

  /**
   * @param restart_interval entries between restart points (1 stores every key whole)
   * @param initial_capacity_bytes starting buffer size (it grows as needed)
   */
  constructor(readonly restart_interval: number, initial_capacity_bytes = 8192) {
    this.#buffer = new GrowableBuffer(initial_capacity_bytes);
    this.reset();
  }

  /** Starts a new, empty block. */
  reset(): void {
    this.#buffer.clear();
    this.#restarts[0] = 0;
    this.#restart_count = 1;
    this.#entries_since_restart = 0;
    this.last_key.clear();
    this.#entry_count = 0;
  }

  /** Entries added since the last reset. */
  entryCount(): number {
    return this.#entry_count;
  }

  /** Whether no entry was added since the last reset. */
  empty(): boolean {
    return this.#entry_count === 0;
  }

  /** Size of the block if finished now, in bytes (without the block trailer). */
  estimatedSizeBytes(): number {
    return this.#buffer.length + this.#restart_count * 4 + 4;
  }

  /** The last key added (a view valid until the next add or reset). */
  lastKey(): Uint8Array {
    return this.last_key.view();
  }

  /**
   * Appends an entry; the caller guarantees keys arrive in increasing order.
   * @param common_prefix_hint the length of the common prefix of `key` and the last key, if
   *   the caller already knows it (-1: compute it)
   */
  add(key: Uint8Array, value: Uint8Array, common_prefix_hint = -1): void {
    this.addRange(key, 0, key.length, value, 0, value.length, common_prefix_hint);
  }

  /**
   * {@link BlockBuilder.add} for the key `key_source[key_start, key_start + key_length)` and
   * the value `value_source[value_start, value_start + value_length)`, read in place.
   */
  addRange(
    key_source: Uint8Array,
    key_start: number,
    key_length: number,
    value_source: Uint8Array,
    value_start: number,
    value_length: number,
    common_prefix_hint = -1,
  ): void {
    const last = this.last_key;
    let shared = 0;
    if (this.#entries_since_restart < this.restart_interval) {
      if (common_prefix_hint >= 0 && this.#entry_count > 0) {
        shared = common_prefix_hint;
      } else {
        const limit = Math.min(last.length, key_length);
        const last_bytes = last.bytes;
        while (shared < limit && last_bytes[shared] === key_source[key_start + shared]) shared++;
      }
    } else {
      this.#addRestart();
    }
    const unshared = key_length - shared;
    const buffer = this.#buffer;
    buffer.reserve(MAX_ENTRY_HEADER_BYTES + unshared + value_length);
    const out = buffer.bytes;
    let at = buffer.length;
    if (shared < 128 && unshared < 128 && value_length < 128) {
      out[at] = shared;
      out[at + 1] = unshared;
      out[at + 2] = value_length;
      at += 3;
    } else {
      at = writeVarint(out, at, shared);
      at = writeVarint(out, at, unshared);
      at = writeVarint(out, at, value_length);
    }
    buffer.length = at;
    const key_end = key_start + key_length;
    buffer.appendRange(key_source, key_start + shared, key_end);
    buffer.appendRange(value_source, value_start, value_start + value_length);
    last.length = shared;
    last.appendRange(key_source, key_start + shared, key_end);
    this.#entries_since_restart++;
    this.#entry_count++;
  }

  #addRestart(): void {
    if (this.#restart_count === this.#restarts.length) {
      const grown = new Uint32Array(this.#restarts.length * 2);
      grown.set(this.#restarts);
      this.#restarts = grown;
    }
    this.#restarts[this.#restart_count++] = this.#buffer.length;
    this.#entries_since_restart = 0;
  }

  /**
   * Appends the restart array and returns the finished block contents: a view into the
   * builder's buffer, valid until the next add or reset.
   */
  finish(): Uint8Array {
    const buffer = this.#buffer;
    const count = this.#restart_count;
    buffer.reserve(count * 4 + 4);
    const out = buffer.bytes;
    let at = buffer.length;
    for (let i = 0; i < count; i++, at += 4) writeUint32LE(out, at, this.#restarts[i]);
    writeUint32LE(out, at, count);
    buffer.length = at + 4;
    return buffer.view();
  }
}
