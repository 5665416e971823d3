/**
 * The Raft peer wire protocol: length-prefixed frames over a byte stream.
 *
 * ```
 * frame := length u32 (of kind + payload) | kind u8 | payload
 * hello := version u8 | cluster_id (u16 length + UTF-8) | sender_id (u16 length + UTF-8)
 * ```
 * The first frame on a connection is a hello; every later frame carries one encoded Raft
 * message, opaque to the transport, or (on a connection opened for it) one request, which the
 * listener answers with one response frame on the same connection, in order. Frames are
 * bounded: a peer announcing a larger one is cut off before its bytes are buffered.
 *
 * @module
 */

/** Bytes before a frame's payload (length and kind). */
export const FRAME_HEADER_BYTES = 5;

/** Version of the hello frame this code speaks. */
export const PROTOCOL_VERSION = 1;

/** Kinds of frames. */
export enum FrameKind {
  /** First frame of a connection: who is calling, in which cluster. */
  Hello = 1,
  /** One encoded Raft message. */
  Message = 2,
  /** A request (checkpoint transfer); answered by one Response on the same connection. */
  Request = 3,
  /** The answer to the oldest unanswered Request of the connection. */
  Response = 4,
}

/** A decoded frame. */
export interface Frame {
  /** Its kind. */
  kind: FrameKind;
  /** Its payload (a copy, owned by the caller). */
  payload: Uint8Array;
}

/** A peer sent a frame that breaks the protocol (too large, unknown kind, bad hello). */
export class FrameError extends Error {
  /** @param message what was wrong and what is allowed */
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/** Size on the wire of a frame with a payload of `payload_bytes`. */
export function frameSizeBytes(payload_bytes: number): number {
  return FRAME_HEADER_BYTES + payload_bytes;
}

/** Writes one frame into `out` at `offset`; returns the offset after it. */
export function writeFrame(
  out: Uint8Array,
  offset: number,
  kind: FrameKind,
  payload: Uint8Array,
): number {
  new DataView(out.buffer, out.byteOffset + offset, 4).setUint32(0, payload.length + 1, true);
  out[offset + 4] = kind;
  out.set(payload, offset + FRAME_HEADER_BYTES);
  return offset + FRAME_HEADER_BYTES + payload.length;
}

/** Encodes many message frames into one buffer, so that one write carries the whole batch. */
export function encodeMessageFrames(payloads: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const payload of payloads) size += frameSizeBytes(payload.length);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const payload of payloads) offset = writeFrame(out, offset, FrameKind.Message, payload);
  return out;
}

/** Encodes one frame of `kind` (header included). */
export function encodeFrame(kind: FrameKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(frameSizeBytes(payload.length));
  writeFrame(out, 0, kind, payload);
  return out;
}

/** The hello a connecting node sends first. */
export interface Hello {
  /** Cluster the sender belongs to; a mismatch closes the connection. */
  cluster_id: string;
  /** The sender's node id. */
  sender_id: string;
}

const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder("utf-8", { fatal: true });
const MAX_ID_BYTES = 255;

/** Encodes a hello frame (header included). */
export function encodeHelloFrame(hello: Hello): Uint8Array {
  const cluster = TEXT_ENCODER.encode(hello.cluster_id);
  const sender = TEXT_ENCODER.encode(hello.sender_id);
  for (const [name, bytes] of [["cluster_id", cluster], ["sender_id", sender]] as const) {
    if (bytes.length === 0 || bytes.length > MAX_ID_BYTES) {
      throw new FrameError(`${name} must be 1..${MAX_ID_BYTES} UTF-8 bytes, got ${bytes.length}`);
    }
  }
  const payload = new Uint8Array(1 + 2 + cluster.length + 2 + sender.length);
  const view = new DataView(payload.buffer);
  payload[0] = PROTOCOL_VERSION;
  view.setUint16(1, cluster.length, true);
  payload.set(cluster, 3);
  view.setUint16(3 + cluster.length, sender.length, true);
  payload.set(sender, 5 + cluster.length);
  const out = new Uint8Array(frameSizeBytes(payload.length));
  writeFrame(out, 0, FrameKind.Hello, payload);
  return out;
}

/** Decodes a hello payload; throws {@link FrameError} if it is malformed. */
export function decodeHello(payload: Uint8Array): Hello {
  if (payload.length < 5) throw new FrameError(`hello of ${payload.length} bytes is too short`);
  if (payload[0] !== PROTOCOL_VERSION) {
    throw new FrameError(`hello version ${payload[0]}; this node speaks ${PROTOCOL_VERSION}`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const cluster_length = view.getUint16(1, true);
  const sender_at = 3 + cluster_length;
  if (sender_at + 2 > payload.length) throw new FrameError("hello cluster_id runs past its end");
  const sender_length = view.getUint16(sender_at, true);
  if (sender_at + 2 + sender_length !== payload.length) {
    throw new FrameError("hello sender_id length does not match the frame");
  }
  try {
    return {
      cluster_id: TEXT_DECODER.decode(payload.subarray(3, sender_at)),
      sender_id: TEXT_DECODER.decode(payload.subarray(sender_at + 2)),
    };
  } catch {
    throw new FrameError("hello ids are not valid UTF-8");
  }
}

/**
 * Splits a byte stream into frames. Buffers at most one frame (bounded by
 * `max_frame_bytes`) plus one read chunk.
 */
export class FrameDecoder {
  #pending: Uint8Array = new Uint8Array(0);
  #error: FrameError | null = null;

  /** @param max_frame_bytes largest payload accepted; a larger announced frame throws */
  constructor(readonly max_frame_bytes: number) {
    if (!Number.isInteger(max_frame_bytes) || max_frame_bytes < 1) {
      throw new RangeError(`max_frame_bytes must be a positive integer, got ${max_frame_bytes}`);
    }
  }

  /** Bytes received but not yet returned as frames. */
  get buffered_bytes(): number {
    return this.#pending.length;
  }

  /**
   * Adds received bytes; returns the frames they complete, in order. A protocol violation
   * throws {@link FrameError}; when valid frames came before it in the same chunk they are
   * returned first and the error is thrown by {@link FrameDecoder.check} or the next push.
   */
  push(chunk: Uint8Array): Frame[] {
    this.check();
    const data = this.#pending.length === 0 ? chunk : concat(this.#pending, chunk);
    const frames: Frame[] = [];
    let offset = 0;
    try {
      // Bounded: each iteration consumes one whole frame of at least 5 bytes.
      while (data.length - offset >= FRAME_HEADER_BYTES) {
        const frame_bytes = this.#completeFrameBytes(data, offset);
        if (frame_bytes === 0) break;
        frames.push({
          kind: data[offset + 4],
          payload: data.slice(offset + FRAME_HEADER_BYTES, offset + frame_bytes),
        });
        offset += frame_bytes;
      }
    } catch (err) {
      if (frames.length === 0) throw err;
      this.#error = err as FrameError;
    }
    this.#pending = offset === data.length ? new Uint8Array(0) : data.slice(offset);
    return frames;
  }

  /** Throws the protocol violation found after the frames a push returned, if any. */
  check(): void {
    if (this.#error) throw this.#error;
  }

  /** Size of the whole frame at `offset` if it is complete, 0 if more bytes are needed. */
  #completeFrameBytes(data: Uint8Array, offset: number): number {
    const length = new DataView(data.buffer, data.byteOffset + offset, 4).getUint32(0, true);
    if (length < 1) throw new FrameError("frame length 0: every frame has a kind byte");
    if (length - 1 > this.max_frame_bytes) {
      throw new FrameError(
        `frame of ${length - 1} bytes exceeds the limit of ${this.max_frame_bytes} bytes`,
      );
    }
    const kind = data[offset + 4];
    if (kind < FrameKind.Hello || kind > FrameKind.Response) {
      throw new FrameError(
        `unknown frame kind ${kind}; allowed 1 (hello), 2 (message), 3 (request), 4 (response)`,
      );
    }
    return data.length - offset < 4 + length ? 0 : 4 + length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
