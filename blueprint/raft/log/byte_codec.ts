/**
 * Little-endian byte writer and reader for the log's record payloads and snapshot files.
 * Integers are JavaScript numbers below 2^53, stored as 8 bytes (low and high 32-bit halves).
 *
 * @module
 */

const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder("utf-8", { fatal: true });

/** Appends fields to a growing buffer. */
export class ByteWriter {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;

  /** @param initial_capacity_bytes first buffer size; it doubles as needed */
  constructor(initial_capacity_bytes = 256) {
    this.#buffer = new Uint8Array(Math.max(16, initial_capacity_bytes));
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #reserve(extra_bytes: number): number {
    const needed = this.#length + extra_bytes;
    if (needed > this.#buffer.length) {
      let capacity = this.#buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    const at = this.#length;
    this.#length = needed;
    return at;
  }

  /** Writes one byte. */
  u8(value: number): void {
    const at = this.#reserve(1);
    this.#buffer[at] = value;
  }

  /** Writes an unsigned 16-bit integer. */
  u16(value: number): void {
    this.#view.setUint16(this.#reserve(2), value, true);
  }

  /** Writes an unsigned 32-bit integer. */
  u32(value: number): void {
    this.#view.setUint32(this.#reserve(4), value >>> 0, true);
  }

  /** Writes a non-negative safe integer as 8 bytes. */
  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`u64 field must be a non-negative safe integer, got ${value}`);
    }
    const at = this.#reserve(8);
    this.#view.setUint32(at, value % 0x1_0000_0000, true);
    this.#view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
  }

  /** Writes raw bytes. */
  bytes(data: Uint8Array): void {
    const at = this.#reserve(data.length); // may replace the buffer: reserve first
    this.#buffer.set(data, at);
  }

  /** Writes a string of at most 65,535 UTF-8 bytes, prefixed with its length. */
  shortString(text: string): void {
    const encoded = TEXT_ENCODER.encode(text);
    if (encoded.length > 0xffff) {
      throw new RangeError(`string must be at most 65535 UTF-8 bytes, got ${encoded.length}`);
    }
    this.u16(encoded.length);
    this.bytes(encoded);
  }

  /** Overwrites a 32-bit integer at `offset` (for headers filled in last). */
  patchU32(offset: number, value: number): void {
    this.#view.setUint32(offset, value >>> 0, true);
  }

  /** Everything written, as a view (valid until the next write). */
  view(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** Forgets the contents, keeping the buffer. */
  reset(): void {
    this.#length = 0;
  }
}

/** Reads fields in order; throws RangeError past the end or on malformed text. */
export class ByteReader {
  #offset = 0;
  readonly #view: DataView;

  /** @param data the bytes to read */
  constructor(readonly data: Uint8Array) {
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.data.length - this.#offset;
  }

  #take(count: number): number {
    if (count > this.remaining) {
      throw new RangeError(
        `need ${count} more bytes at offset ${this.#offset}, have ${this.remaining}`,
      );
    }
    const at = this.#offset;
    this.#offset += count;
    return at;
  }

  /** Reads one byte. */
  u8(): number {
    return this.data[this.#take(1)];
  }

  /** Reads an unsigned 16-bit integer. */
  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }

  /** Reads an unsigned 32-bit integer. */
  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  /** Reads an 8-byte integer; throws if it is not a safe integer. */
  u64(): number {
    const at = this.#take(8);
    const high = this.#view.getUint32(at + 4, true);
    if (high >= 0x20_0000) throw new RangeError(`u64 at offset ${at} exceeds 2^53`);
    return high * 0x1_0000_0000 + this.#view.getUint32(at, true);
  }

  /** Reads `count` raw bytes (a view into the input). */
  bytes(count: number): Uint8Array {
    const at = this.#take(count);
    return this.data.subarray(at, at + count);
  }

  /** Reads a length-prefixed UTF-8 string. */
  shortString(): string {
    return TEXT_DECODER.decode(this.bytes(this.u16()));
  }
}
