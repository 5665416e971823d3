/**
 * Messages between the DB's isolate and the background worker, as bytes for the
 * SharedArrayBuffer ring. Pure encoding and decoding, tested without a worker.
 *
 * Every message is `kind (u8) ‖ job_id (u32 LE) ‖ payload`. Flush entries travel as binary
 * chunks (`key_len u32 ‖ key ‖ value_len u32 ‖ value`, repeated) so that a memtable streams
 * to the worker in bounded pieces; the rare small control messages carry JSON.
 *
 * @module
 */
import type { TableFileMeta } from "../manifest.ts";
import type { TableOptions } from "../table/mod.ts";
import type { CompactionJob } from "./background_executor.ts";
import type { OutputLimits } from "./compaction_options.ts";

/** What a message to the worker asks for. */
export enum RequestKind {
  /** First message: how to write tables. Payload: JSON {@link WorkerConfig}. */
  Configure = 0,
  /** Starts a flush. Payload: JSON `{dir, file_number}`. */
  FlushBegin = 1,
  /** Entries of the flush in progress. Payload: binary entries. */
  FlushChunk = 2,
  /** Last message of a flush: finish and sync the table. No payload. */
  FlushEnd = 3,
  /** The sender could not produce all entries: drop the partial table. No payload. */
  FlushAbort = 4,
  /** Runs a compaction. Payload: JSON `{dir, job}` with keys in hex. */
  Compact = 5,
  /** Fault injection: the worker dies at once with an uncaught error. No payload. */
  Crash = 6,
  /**
   * Flushes a memtable whose arenas arrive by `postMessage` as an {@link ArenaMessage} with
   * the same job id (shared memory, no copy). Payload: JSON `{dir, file_number}`.
   */
  FlushArena = 7,
}

/** `postMessage` kind of an {@link ArenaMessage}. */
export const ARENA_MESSAGE_KIND = "storage-memtable-arena";

/** A memtable's arenas for a {@link RequestKind.FlushArena} job, sent with `postMessage`. */
export interface ArenaMessage {
  /** Always {@link ARENA_MESSAGE_KIND}. */
  kind: typeof ARENA_MESSAGE_KIND;
  /** The job the arena belongs to. */
  job_id: number;
  /** Node records (a view of a SharedArrayBuffer). */
  nodes: Int32Array;
  /** Key and value bytes (a view of a SharedArrayBuffer). */
  bytes: Uint8Array;
  /** Number of entries. */
  entry_count: number;
}

/** What a message from the worker reports. */
export enum ReplyKind {
  /** The job succeeded. Payload: JSON array of table metas with keys in hex. */
  Done = 1,
  /** The job failed. Payload: JSON `{name, message}`. */
  Failed = 2,
}

/** Settings the worker needs, sent once after it starts. */
export interface WorkerConfig {
  /** Table format settings for every table the worker writes. */
  table_options: TableOptions;
  /** Capacity of the worker's own block cache (compaction inputs). */
  cache_capacity_bytes: number;
  /** Output file cuts. */
  limits: OutputLimits;
  /** Nice value the worker sets on its own thread (0: normal priority). */
  thread_nice: number;
}

/** A decoded message header and its payload (a view into the message). */
export interface DecodedMessage<Kind> {
  /** Kind of message. */
  kind: Kind;
  /** Job the message belongs to (0 for messages about no job). */
  job_id: number;
  /** The rest of the message. */
  payload: Uint8Array;
}

const HEADER_BYTES = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds a message with the given kind, job and payload. */
export function encodeMessage(kind: number, job_id: number, payload?: Uint8Array): Uint8Array {
  if (!Number.isInteger(job_id) || job_id < 0 || job_id > 0xffffffff) {
    throw new RangeError(`job_id must be a uint32, got ${job_id}`);
  }
  const message = new Uint8Array(HEADER_BYTES + (payload?.length ?? 0));
  message[0] = kind;
  new DataView(message.buffer).setUint32(1, job_id, true);
  if (payload) message.set(payload, HEADER_BYTES);
  return message;
}

/** Splits a message into kind, job and payload; rejects truncated messages. */
export function decodeMessage<Kind extends number>(
  message: Uint8Array,
  valid_kinds: readonly Kind[],
): DecodedMessage<Kind> {
  if (message.length < HEADER_BYTES) {
    throw new RangeError(
      `background message of ${message.length} bytes is shorter than its ${HEADER_BYTES}-byte header`,
    );
  }
  const kind = message[0] as Kind;
  if (!valid_kinds.includes(kind)) {
    throw new RangeError(
      `unknown background message kind ${kind}; expected one of ${valid_kinds.join(", ")}`,
    );
  }
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  return { kind, job_id: view.getUint32(1, true), payload: message.subarray(HEADER_BYTES) };
}

/** JSON to bytes, with Uint8Array fields written as `{hex: "..."}`. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(
    JSON.stringify(value, (_key, v) => v instanceof Uint8Array ? { hex: toHex(v) } : v),
  );
}

/** Bytes to JSON, turning `{hex: "..."}` back into Uint8Array. */
export function decodeJson<T>(payload: Uint8Array): T {
  return JSON.parse(
    decoder.decode(payload),
    (_key, v) =>
      v !== null && typeof v === "object" && typeof v.hex === "string" &&
        Object.keys(v).length === 1
        ? fromHex(v.hex)
        : v,
  );
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new RangeError(`malformed hex string of length ${hex.length} in background message`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

/** The payload of a {@link RequestKind.Compact} message. */
export interface CompactRequest {
  /** The database directory. */
  dir: string;
  /** The job. */
  job: CompactionJob;
}

/** The payload of a {@link RequestKind.FlushBegin} message. */
export interface FlushBeginRequest {
  /** The database directory. */
  dir: string;
  /** Number of the new table. */
  file_number: number;
}

/** A failed job's error, as carried back to the caller. */
export interface FailedReply {
  /** Error class name, e.g. "CorruptionError". */
  name: string;
  /** Error message. */
  message: string;
}

/** The metas in a {@link ReplyKind.Done} payload. */
export function decodeMetas(payload: Uint8Array): TableFileMeta[] {
  return decodeJson<TableFileMeta[]>(payload);
}

/**
 * Packs flush entries into chunks of at most `chunk_bytes` (one entry larger than that goes
 * alone in its chunk). Bounded memory: one chunk at a time.
 */
export class ChunkPacker {
  #buffer: Uint8Array;
  #view: DataView;
  #used = HEADER_BYTES;

  /**
   * @param job_id the flush the chunks belong to
   * @param chunk_bytes bound of one chunk message
   */
  constructor(readonly job_id: number, readonly chunk_bytes: number) {
    if (!Number.isInteger(chunk_bytes) || chunk_bytes < 64) {
      throw new RangeError(`flush chunk_bytes must be an integer >= 64, got ${chunk_bytes}`);
    }
    this.#buffer = new Uint8Array(chunk_bytes);
    this.#view = new DataView(this.#buffer.buffer);
  }

  /**
   * Adds an entry. Returns a full chunk message to send first when the entry does not fit,
   * else null.
   */
  add(key: Uint8Array, value: Uint8Array): Uint8Array | null {
    const entry_bytes = 8 + key.length + value.length;
    let full: Uint8Array | null = null;
    if (this.#used + entry_bytes > this.#buffer.length) {
      full = this.take();
      if (HEADER_BYTES + entry_bytes > this.#buffer.length) {
        this.#buffer = new Uint8Array(HEADER_BYTES + entry_bytes); // one oversized entry
        this.#view = new DataView(this.#buffer.buffer);
      }
    }
    this.#view.setUint32(this.#used, key.length, true);
    this.#buffer.set(key, this.#used + 4);
    this.#used += 4 + key.length;
    this.#view.setUint32(this.#used, value.length, true);
    this.#buffer.set(value, this.#used + 4);
    this.#used += 4 + value.length;
    return full;
  }

  /** The pending chunk as a message (null when empty); the packer starts a new chunk. */
  take(): Uint8Array | null {
    if (this.#used === HEADER_BYTES) return null;
    const message = this.#buffer.slice(0, this.#used);
    message[0] = RequestKind.FlushChunk;
    new DataView(message.buffer).setUint32(1, this.job_id, true);
    if (this.#buffer.length > this.chunk_bytes) {
      this.#buffer = new Uint8Array(this.chunk_bytes);
      this.#view = new DataView(this.#buffer.buffer);
    }
    this.#used = HEADER_BYTES;
    return message;
  }
}

/** Calls `add` for each entry of a chunk payload; throws on a truncated chunk. */
export function forEachChunkEntry(
  payload: Uint8Array,
  add: (key: Uint8Array, value: Uint8Array) => void,
): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let offset = 0;
  // Each pass consumes at least 8 bytes, so the loop ends within payload.length / 8 passes.
  while (offset < payload.length) {
    if (offset + 4 > payload.length) throw truncated(offset, payload.length);
    const key_length = view.getUint32(offset, true);
    const key_end = offset + 4 + key_length;
    if (key_end + 4 > payload.length) throw truncated(offset, payload.length);
    const value_length = view.getUint32(key_end, true);
    const value_end = key_end + 4 + value_length;
    if (value_end > payload.length) throw truncated(offset, payload.length);
    add(payload.subarray(offset + 4, key_end), payload.subarray(key_end + 4, value_end));
    offset = value_end;
  }
}

function truncated(offset: number, length: number): RangeError {
  return new RangeError(
    `flush chunk entry at offset ${offset} runs past the chunk of ${length} bytes`,
  );
}
