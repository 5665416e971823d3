/**
 * An atomic group of puts and deletes, and its byte format (which is also the WAL record).
 *
 * Format (LevelDB's): sequence (8 bytes, little endian) ‖ count (4 bytes, little endian) ‖
 * count records, each `type (1) ‖ varint32 key length ‖ key` followed, for a put, by
 * `varint32 value length ‖ value`. The records of one batch get consecutive sequence numbers
 * starting at the header's sequence.
 *
 * @module
 */
import { CorruptionError, StorageError } from "./errors.ts";
import { ValueType } from "./internal_key.ts";

/** Bytes of the batch header (sequence + count). */
export const BATCH_HEADER_BYTES = 12;
/** Most operations one batch may hold. */
export const MAX_BATCH_COUNT = 1 << 24;
const INITIAL_CAPACITY_BYTES = 64;

/** One operation of a decoded batch. */
export interface BatchEntry {
  /** Put (value) or delete (deletion). */
  type: ValueType;
  /** User key. */
  key: Uint8Array;
  /** Value; empty for deletions. */
  value: Uint8Array;
}

/**
 * Puts and deletes applied atomically by `Storage.write`: all or none survive a crash, and a
 * reader sees all or none of them.
 *
 * Keys and values are copied when added, so callers may reuse their buffers.
 *
 * @example
 * ```ts
 * const batch = new WriteBatch();
 * batch.put(bytes("a"), bytes("1"));
 * batch.delete(bytes("b"));
 * await db.write(batch, { sync: true });
 * ```
 */
export class WriteBatch {
  #rep: Uint8Array = new Uint8Array(INITIAL_CAPACITY_BYTES);
  #length_bytes = BATCH_HEADER_BYTES;
  #count = 0;
  /** Shortest and longest key and longest value so far: a write checks limits in O(1). */
  #min_key_bytes = Infinity;
  #max_key_bytes = 0;
  #max_value_bytes = 0;

  /** Adds "set `key` to `value`". */
  put(key: Uint8Array, value: Uint8Array): this {
    requireBytes("key", key);
    requireBytes("value", value);
    this.#append_record(ValueType.Value, key, value);
    return this;
  }

  /** Adds "remove `key`". */
  delete(key: Uint8Array): this {
    requireBytes("key", key);
    this.#append_record(ValueType.Deletion, key, undefined);
    return this;
  }

  /** Removes every operation. */
  clear(): void {
    this.#length_bytes = BATCH_HEADER_BYTES;
    this.#count = 0;
    this.#min_key_bytes = Infinity;
    this.#max_key_bytes = 0;
    this.#max_value_bytes = 0;
  }

  /** Number of operations. */
  get count(): number {
    return this.#count;
  }

  /** Size of the encoded batch in bytes (what the WAL record will take). */
  get sizeBytes(): number {
    return this.#length_bytes;
  }

  /** Length of the shortest key in the batch (Infinity when empty). */
  get minKeyBytes(): number {
    return this.#min_key_bytes;
  }

  /** Length of the longest key in the batch (0 when empty). */
  get maxKeyBytes(): number {
    return this.#max_key_bytes;
  }

  /** Length of the longest value in the batch (0 when empty or only deletes). */
  get maxValueBytes(): number {
    return this.#max_value_bytes;
  }

  /**
   * Visits each operation as positions in `bytes` (the batch's own buffer, valid until the
   * batch changes): no per-operation allocation, for the write path.
   */
  forEachRange(visit: RangeVisitor): void {
    forEachRecordRange(this.#rep, this.#length_bytes, this.#count, visit);
  }

  /**
   * The encoded batch with `first_sequence` in its header, as a view of the batch's own
   * buffer (no copy): valid until the batch changes. For callers that consume it at once.
   */
  encodeInPlace(first_sequence: number): Uint8Array {
    const out = this.#rep.subarray(0, this.#length_bytes);
    writeHeader(out, first_sequence, this.#count);
    return out;
  }

  /** Calls `visit` for each operation in insertion order. */
  forEach(visit: (type: ValueType, key: Uint8Array, value: Uint8Array) => void): void {
    forEachRecord(this.#rep.subarray(0, this.#length_bytes), this.#count, "write batch", visit);
  }

  /**
   * The encoded batch with `first_sequence` in its header: the WAL record. The returned
   * bytes are a fresh copy.
   */
  encode(first_sequence: number): Uint8Array {
    const out = this.#rep.slice(0, this.#length_bytes);
    writeHeader(out, first_sequence, this.#count);
    return out;
  }

  #append_record(type: ValueType, key: Uint8Array, value: Uint8Array | undefined): void {
    if (this.#count >= MAX_BATCH_COUNT) {
      throw new StorageError(`a write batch holds at most ${MAX_BATCH_COUNT} operations`);
    }
    const needed = 1 + 5 + key.length + (value === undefined ? 0 : 5 + value.length);
    this.#reserve(needed);
    let pos = this.#length_bytes;
    this.#rep[pos++] = type;
    pos = writeVarint32(this.#rep, pos, key.length);
    this.#rep.set(key, pos);
    pos += key.length;
    if (value !== undefined) {
      pos = writeVarint32(this.#rep, pos, value.length);
      this.#rep.set(value, pos);
      pos += value.length;
    }
    this.#length_bytes = pos;
    this.#count++;
    if (key.length < this.#min_key_bytes) this.#min_key_bytes = key.length;
    if (key.length > this.#max_key_bytes) this.#max_key_bytes = key.length;
    if (value !== undefined && value.length > this.#max_value_bytes) {
      this.#max_value_bytes = value.length;
    }
  }

  #reserve(extra_bytes: number): void {
    const needed = this.#length_bytes + extra_bytes;
    if (needed <= this.#rep.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#rep.length * 2));
    grown.set(this.#rep.subarray(0, this.#length_bytes));
    this.#rep = grown;
  }
}

/** A batch read back from a WAL record. */
export interface DecodedBatch {
  /** Sequence number of the first operation. */
  first_sequence: number;
  /** Operations in order; operation i has sequence `first_sequence + i`. */
  entries: BatchEntry[];
}

/**
 * Decodes a WAL record written from {@link WriteBatch.encode}.
 *
 * @param source file the record came from, named in a CorruptionError
 * @throws CorruptionError when the record is malformed
 */
export function decodeBatch(record: Uint8Array, source: string): DecodedBatch {
  if (record.length < BATCH_HEADER_BYTES) {
    throw new CorruptionError(
      source,
      0,
      `write batch record of ${record.length} bytes is too short`,
    );
  }
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const first_sequence = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  const count = view.getUint32(8, true);
  const entries: BatchEntry[] = [];
  forEachRecord(record, count, source, (type, key, value) => entries.push({ type, key, value }));
  return { first_sequence, entries };
}

function writeHeader(out: Uint8Array, first_sequence: number, count: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, first_sequence % 2 ** 32, true);
  view.setUint32(4, Math.floor(first_sequence / 2 ** 32), true);
  view.setUint32(8, count, true);
}

function forEachRecord(
  rep: Uint8Array,
  count: number,
  source: string,
  visit: (type: ValueType, key: Uint8Array, value: Uint8Array) => void,
): void {
  let pos = BATCH_HEADER_BYTES;
  const corrupt = (detail: string) => new CorruptionError(source, pos, `write batch: ${detail}`);
  for (let i = 0; i < count; i++) {
    if (pos >= rep.length) throw corrupt(`record ${i} of ${count} is missing`);
    const type = rep[pos++];
    if (type !== ValueType.Value && type !== ValueType.Deletion) {
      throw corrupt(`record ${i} has unknown type ${type}`);
    }
    const key = readSlice(rep, pos, corrupt);
    pos = key.end;
    let value: Uint8Array = EMPTY;
    if (type === ValueType.Value) {
      const read = readSlice(rep, pos, corrupt);
      pos = read.end;
      value = read.bytes;
    }
    visit(type, key.bytes, value);
  }
  if (pos !== rep.length) {
    throw corrupt(`${rep.length - pos} trailing bytes after ${count} records`);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Receives one operation of an encoded batch as positions: the key is
 * `bytes[key_start, key_start + key_length)`, the value likewise (length 0 for a deletion).
 */
export type RangeVisitor = (
  type: ValueType,
  bytes: Uint8Array,
  key_start: number,
  key_length: number,
  value_start: number,
  value_length: number,
) => void;

/** Reads a varint32 length at `pos` of a batch this process encoded (so well formed). */
function lengthAt(rep: Uint8Array, pos: number): number {
  let byte = rep[pos];
  if (byte < 0x80) return byte;
  let length = byte & 0x7f;
  for (let shift = 7; shift <= 28; shift += 7) {
    byte = rep[++pos];
    length |= (byte & 0x7f) << shift;
    if (byte < 0x80) return length >>> 0;
  }
  throw new Error("write batch: bad length varint in a batch this process encoded");
}

/** Bytes taken by the varint32 encoding of `value`. */
function varintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** Walks an encoded batch built by {@link WriteBatch} (trusted: no corruption checks). */
function forEachRecordRange(
  rep: Uint8Array,
  length_bytes: number,
  count: number,
  visit: RangeVisitor,
): void {
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const type = rep[pos++] as ValueType;
    const key_length = lengthAt(rep, pos);
    const key_start = pos + varintBytes(key_length);
    pos = key_start + key_length;
    let value_start = pos;
    let value_length = 0;
    if (type === ValueType.Value) {
      value_length = lengthAt(rep, pos);
      value_start = pos + varintBytes(value_length);
      pos = value_start + value_length;
    }
    visit(type, rep, key_start, key_length, value_start, value_length);
  }
  if (pos !== length_bytes) {
    throw new Error(`write batch: walked ${pos} of ${length_bytes} bytes`);
  }
}

function readSlice(
  rep: Uint8Array,
  start: number,
  corrupt: (detail: string) => Error,
): { bytes: Uint8Array; end: number } {
  let length = 0;
  let pos = start;
  for (let shift = 0;; shift += 7) {
    if (shift > 28 || pos >= rep.length) throw corrupt("bad length varint");
    const byte = rep[pos++];
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (pos + length > rep.length) throw corrupt(`length ${length} runs past the record end`);
  return { bytes: rep.subarray(pos, pos + length), end: pos + length };
}

function writeVarint32(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

function requireBytes(what: string, bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new StorageError(`${what} must be a Uint8Array, got ${describe(bytes)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}
