/**
 * Requests and responses of the checkpoint transfer, carried by the Raft transport's
 * request frames (one response per request, in order, on the fetcher's own connection).
 *
 * ```
 * request  := op u8 | JSON (UTF-8)
 *   op 1 read:   { checkpoint_id, file, offset, length }
 *   op 2 report: { checkpoint_id, ok, reason }      (the receiver's outcome, for the leader)
 * response := status u8 | body
 *   status 0: crc32c u32le (of data) | data          (data shorter than length = end of file)
 *   status 1: UTF-8 error message
 * ```
 *
 * @module
 */
import { crc32c } from "../../../shared/checksum/crc32c.ts";
import { CHECKPOINT_ID_PATTERN, FILE_NAME_PATTERN } from "./descriptor.ts";

/** Largest chunk a read may ask for (bounds the server's buffer and the frame). */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

/** Longest error text in a response or reason in a report. */
const MAX_TEXT_BYTES = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Ask for `length` bytes of `file` at `offset`. */
export interface ReadRequest {
  /** Discriminant. */
  readonly op: "read";
  /** Checkpoint directory name. */
  readonly checkpoint_id: string;
  /** File inside it. */
  readonly file: string;
  /** Byte offset. */
  readonly offset: number;
  /** Bytes wanted, 1 to {@link MAX_CHUNK_BYTES}. */
  readonly length: number;
}

/** The receiver tells the sender how the transfer ended. */
export interface ReportRequest {
  /** Discriminant. */
  readonly op: "report";
  /** Checkpoint it concerns. */
  readonly checkpoint_id: string;
  /** Whether it was installed. */
  readonly ok: boolean;
  /** Why not, for the sender's log. */
  readonly reason: string;
}

/** A transfer request. */
export type ChunkRequest = ReadRequest | ReportRequest;

/** A request or response breaks the protocol. */
export class ChunkProtocolError extends Error {
  /** @param message what is wrong */
  constructor(message: string) {
    super(`checkpoint transfer: ${message}`);
    this.name = "ChunkProtocolError";
  }
}

/** Encodes a request after checking it. */
export function encodeChunkRequest(request: ChunkRequest): Uint8Array {
  const checked = checkRequest(request);
  const json = encoder.encode(JSON.stringify(checked));
  const out = new Uint8Array(1 + json.length);
  out[0] = checked.op === "read" ? 1 : 2;
  out.set(json, 1);
  return out;
}

/** Decodes and checks a request; throws {@link ChunkProtocolError} naming what is wrong. */
export function decodeChunkRequest(bytes: Uint8Array): ChunkRequest {
  if (bytes.length < 2 || (bytes[0] !== 1 && bytes[0] !== 2)) {
    throw new ChunkProtocolError(`request op ${bytes[0]} (allowed: 1 read, 2 report)`);
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(decoder.decode(bytes.subarray(1)));
  } catch {
    throw new ChunkProtocolError("request body is not JSON");
  }
  return checkRequest({ ...body, op: bytes[0] === 1 ? "read" : "report" } as ChunkRequest);
}

function checkRequest(request: ChunkRequest): ChunkRequest {
  if (
    typeof request.checkpoint_id !== "string" || !CHECKPOINT_ID_PATTERN.test(request.checkpoint_id)
  ) {
    throw new ChunkProtocolError(`checkpoint_id must match ${CHECKPOINT_ID_PATTERN}`);
  }
  if (request.op === "report") {
    if (typeof request.ok !== "boolean") {
      throw new ChunkProtocolError("report.ok must be a boolean");
    }
    const reason = String(request.reason ?? "").slice(0, MAX_TEXT_BYTES);
    return { op: "report", checkpoint_id: request.checkpoint_id, ok: request.ok, reason };
  }
  if (typeof request.file !== "string" || !FILE_NAME_PATTERN.test(request.file)) {
    throw new ChunkProtocolError(`file must match ${FILE_NAME_PATTERN}`);
  }
  if (!Number.isSafeInteger(request.offset) || request.offset < 0) {
    throw new ChunkProtocolError(`offset must be a non-negative integer, got ${request.offset}`);
  }
  if (!Number.isInteger(request.length) || request.length < 1 || request.length > MAX_CHUNK_BYTES) {
    throw new ChunkProtocolError(
      `length must be an integer from 1 to ${MAX_CHUNK_BYTES}, got ${request.length}`,
    );
  }
  return {
    op: "read",
    checkpoint_id: request.checkpoint_id,
    file: request.file,
    offset: request.offset,
    length: request.length,
  };
}

/** A successful response carrying `data` and its checksum. */
export function encodeChunkData(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.length);
  out[0] = 0;
  new DataView(out.buffer).setUint32(1, crc32c(data), true);
  out.set(data, 5);
  return out;
}

/** A failed response. */
export function encodeChunkError(message: string): Uint8Array {
  const text = encoder.encode(message.slice(0, MAX_TEXT_BYTES));
  const out = new Uint8Array(1 + text.length);
  out[0] = 1;
  out.set(text, 1);
  return out;
}

/** A response as the fetcher sees it. */
export type ChunkResponse =
  | { ok: true; data: Uint8Array }
  | { ok: false; message: string };

/**
 * Decodes a response and verifies its data checksum.
 *
 * @throws ChunkProtocolError when the bytes are malformed or the data fails its CRC
 */
export function decodeChunkResponse(bytes: Uint8Array): ChunkResponse {
  if (bytes.length < 1) throw new ChunkProtocolError("empty response");
  if (bytes[0] === 1) return { ok: false, message: decoder.decode(bytes.subarray(1)) };
  if (bytes[0] !== 0 || bytes.length < 5) {
    throw new ChunkProtocolError(`response status ${bytes[0]} (allowed: 0 data, 1 error)`);
  }
  const stored = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0, true);
  const data = bytes.subarray(5);
  if (crc32c(data) !== stored) {
    throw new ChunkProtocolError(`chunk of ${data.length} bytes fails its CRC-32C`);
  }
  return { ok: true, data };
}
