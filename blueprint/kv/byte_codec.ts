/**
 * A small growable byte writer and a bounds-checked reader: varints for non-negative safe
 * integers, length-prefixed bytes and strings. Used by the request codec and the layout.
 *
 * @module
 */
import { KvError } from "./types.ts";

const text_encoder = new TextEncoder();
const text_decoder = new TextDecoder("utf-8", { fatal: true });
/** A varint of a safe integer takes at most 8 bytes (53 bits / 7). */
const MAX_VARINT_BYTES = 8;

/** Appends values to a growing buffer. */
export class ByteWriter {
  #buffer: Uint8Array;
  #length = 0;

  /** Starts with room for `initial_bytes`. */
  constructor(initial_bytes = 64) {
    this.#buffer = new Uint8Array(Math.max(16, initial_bytes));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #reserve(extra_bytes: number): void {
    const needed = this.#length + extra_bytes;
    if (needed <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }

  /** Writes one byte. */
  u8(value: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = value & 0xff;
    return this;
  }

  /** Writes a non-negative safe integer as a base-128 varint. */
  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new KvError(
        "invalid_argument",
        `integer ${value} cannot be encoded (allowed: 0 to 2^53 - 1)`,
      );
    }
    this.#reserve(MAX_VARINT_BYTES);
    let rest = value;
    while (rest >= 0x80) {
      this.#buffer[this.#length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buffer[this.#length++] = rest;
    return this;
  }

  /** Writes raw bytes without a length. */
  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** Writes a length-prefixed byte string. */
  bytes(bytes: Uint8Array): this {
    return this.varint(bytes.length).raw(bytes);
  }

  /** Writes a length-prefixed UTF-8 string. */
  string(value: string): this {
    return this.bytes(text_encoder.encode(value));
  }

  /**
   * What was written, as a view (no copy: the writers here are short-lived). Write nothing
   * after calling it.
   */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }
}

/** Reads what {@link ByteWriter} wrote, throwing a clear error on truncated or bad input. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #what: string;
  #position = 0;

  /** Reads `bytes`; `what` names the input in errors. */
  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#what = what;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#position;
  }

  /** Throws naming the input. */
  fail(problem: string): never {
    throw new KvError(
      "invalid_argument",
      `${this.#what} is malformed: ${problem} at byte ${this.#position}`,
    );
  }

  /** Reads one byte. */
  u8(): number {
    if (this.#position >= this.#bytes.length) this.fail("unexpected end");
    return this.#bytes[this.#position++];
  }

  /** Reads a varint written by {@link ByteWriter.varint}. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) this.fail("varint beyond 2^53 - 1");
        return value;
      }
      scale *= 0x80;
    }
    return this.fail("varint longer than 8 bytes");
  }

  /** Reads `length` raw bytes (a view, not a copy). */
  raw(length: number): Uint8Array {
    if (length > this.remaining) this.fail(`length ${length} exceeds the ${this.remaining} left`);
    const view = this.#bytes.subarray(this.#position, this.#position + length);
    this.#position += length;
    return view;
  }

  /** Reads a length-prefixed byte string as a copy. */
  bytes(): Uint8Array {
    return this.raw(this.varint()).slice();
  }

  /** Reads a length-prefixed UTF-8 string. */
  string(): string {
    const raw = this.raw(this.varint());
    try {
      return text_decoder.decode(raw);
    } catch {
      return this.fail("invalid UTF-8 string");
    }
  }

  /** Reads a boolean byte (0 or 1). */
  bool(): boolean {
    const byte = this.u8();
    if (byte > 1) this.fail(`boolean byte ${byte} (allowed: 0 or 1)`);
    return byte === 1;
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`);
  }
}
