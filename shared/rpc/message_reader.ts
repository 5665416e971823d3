/**
 * Frames gRPC's length-prefixed messages, and cuts them out of the chunks an HTTP/2 stream delivers, for the
 * lean paths beside grpc-js (server duplex calls, the direct client stream).
 *
 * Chunks are kept as they come and each message is copied at most once (none when it lies
 * within one chunk), so a large message arriving in many small chunks costs its size, not its
 * size times the number of chunks.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The gRPC message prefix: a compressed flag and a 4-byte big-endian length. */
export const MESSAGE_PREFIX_BYTES = 5;

/**
 * `body` as one uncompressed gRPC message: the prefix, then the bytes.
 *
 * @param body an encoded message
 */
export function frameMessage(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + body.length);
  frame[0] = 0;
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, MESSAGE_PREFIX_BYTES);
  return frame;
}

/** Why a stream's bytes cannot be read on: each side words its own status from it. */
export class FrameError extends Error {
  /**
   * @param kind what was wrong: a message over the limit, or a compressed one
   * @param length the message's declared length, in bytes
   */
  constructor(readonly kind: "too_large" | "compressed", readonly length: number) {
    super(kind === "too_large" ? `a message of ${length} bytes` : "a compressed message");
    this.name = "FrameError";
  }
}

/**
 * The messages of one stream, in order.
 *
 * @example
 * ```ts
 * const reader = new MessageReader(4 << 20);
 * stream.on("data", (chunk) => reader.push(chunk, (body) => handle(body)));
 * stream.on("end", () => { if (reader.partial) fail("cut-off message"); });
 * ```
 */
export class MessageReader {
  readonly #max_message_bytes: number;
  readonly #chunks: Buffer[] = [];
  #buffered = 0;

  /**
   * Makes a reader.
   *
   * @param max_message_bytes the largest message accepted
   */
  constructor(max_message_bytes: number) {
    this.#max_message_bytes = max_message_bytes;
  }

  /** Whether bytes of an unfinished message are held (at the stream's end: a cut-off one). */
  get partial(): boolean {
    return this.#buffered > 0;
  }

  /**
   * Adds a chunk and hands each whole message's body to `each`, until `each` returns false.
   *
   * @param chunk bytes from the stream
   * @param each gets a message body; false stops the reading (the call ended)
   * @throws FrameError when the next message is over the limit or compressed
   */
  push(chunk: Buffer, each: (body: Buffer) => boolean): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= MESSAGE_PREFIX_BYTES) {
      const head = this.#head();
      const length = head.readUInt32BE(1);
      if (length > this.#max_message_bytes) throw new FrameError("too_large", length);
      if (head[0] !== 0) throw new FrameError("compressed", length);
      if (this.#buffered < MESSAGE_PREFIX_BYTES + length) return;
      const body = this.#take(MESSAGE_PREFIX_BYTES + length).subarray(MESSAGE_PREFIX_BYTES);
      if (!each(body)) return;
    }
  }

  /** The first chunk, merged with the next ones until it holds a whole prefix. */
  #head(): Buffer {
    while (this.#chunks[0].length < MESSAGE_PREFIX_BYTES) {
      const [first, second] = this.#chunks.splice(0, 2);
      this.#chunks.unshift(Buffer.concat([first, second]));
    }
    return this.#chunks[0];
  }

  /** The next `count` buffered bytes (a view when they lie in one chunk, else one copy). */
  #take(count: number): Buffer {
    this.#buffered -= count;
    const first = this.#chunks[0];
    if (first.length >= count) {
      if (first.length === count) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0];
      const used = Math.min(chunk.length, count - filled);
      out.set(used === chunk.length ? chunk : chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}
