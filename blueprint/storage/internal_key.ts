/**
 * Internal keys: a user key with the sequence number and type of the write that produced it.
 *
 * Layout: `user_key ‖ trailer`, where the 8-byte trailer is `sequence * 256 + type` as a
 * little-endian uint64 (written as low and high 32-bit halves, so no BigInt is needed).
 * Order: user key bytewise ascending, then sequence DESCENDING, then type descending, so the
 * newest version of a key comes first.
 *
 * @module
 */
import { StorageError } from "./errors.ts";

/** What an entry records for its user key. */
export enum ValueType {
  /** A tombstone: the key was deleted at this sequence. */
  Deletion = 0,
  /** A value was written at this sequence. */
  Value = 1,
}

/** Bytes of the trailer after the user key. */
export const TRAILER_SIZE_BYTES = 8;

/** Largest sequence number an internal key can carry (2^48 - 1; fits a JS number exactly). */
export const MAX_SEQUENCE = 2 ** 48 - 1;

const TWO_POW_24 = 2 ** 24;

function checkSequence(sequence: number): void {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > MAX_SEQUENCE) {
    throw new StorageError(
      `sequence must be an integer in 0..${MAX_SEQUENCE} (2^48 - 1), got ${sequence}`,
    );
  }
}

function checkType(type: number): void {
  if (type !== ValueType.Deletion && type !== ValueType.Value) {
    throw new StorageError(`value type must be 0 (deletion) or 1 (value), got ${type}`);
  }
}

function checkInternalKey(ikey: Uint8Array): void {
  if (ikey.length < TRAILER_SIZE_BYTES) {
    throw new StorageError(
      `internal key must be at least ${TRAILER_SIZE_BYTES} bytes (user key + trailer), got ${ikey.length}`,
    );
  }
}

/**
 * Writes the 8-byte trailer for (sequence, type) into `out` at `offset`.
 * Low half = low 24 bits of sequence << 8 | type; high half = sequence >> 24.
 */
export function writeTrailer(
  out: Uint8Array,
  offset: number,
  sequence: number,
  type: ValueType,
): void {
  const low = ((sequence % TWO_POW_24) * 256 + type) >>> 0;
  const high = Math.floor(sequence / TWO_POW_24) >>> 0;
  out[offset] = low & 0xff;
  out[offset + 1] = (low >>> 8) & 0xff;
  out[offset + 2] = (low >>> 16) & 0xff;
  out[offset + 3] = low >>> 24;
  out[offset + 4] = high & 0xff;
  out[offset + 5] = (high >>> 8) & 0xff;
  out[offset + 6] = (high >>> 16) & 0xff;
  out[offset + 7] = high >>> 24;
}

/**
 * Builds an internal key.
 *
 * @example
 * ```ts
 * const ikey = encodeInternalKey(new TextEncoder().encode("a"), 7, ValueType.Value);
 * sequenceOf(ikey); // 7
 * ```
 */
export function encodeInternalKey(
  user_key: Uint8Array,
  sequence: number,
  type: ValueType,
): Uint8Array {
  checkSequence(sequence);
  checkType(type);
  const out = new Uint8Array(user_key.length + TRAILER_SIZE_BYTES);
  out.set(user_key, 0);
  writeTrailer(out, user_key.length, sequence, type);
  return out;
}

/** The user key part of an internal key (a view, not a copy). */
export function userKeyOf(ikey: Uint8Array): Uint8Array {
  checkInternalKey(ikey);
  return ikey.subarray(0, ikey.length - TRAILER_SIZE_BYTES);
}

function readUint32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)) >>> 0;
}

/** The sequence number of an internal key. */
export function sequenceOf(ikey: Uint8Array): number {
  checkInternalKey(ikey);
  const t = ikey.length - TRAILER_SIZE_BYTES;
  return readUint32LE(ikey, t + 4) * TWO_POW_24 + (readUint32LE(ikey, t) >>> 8);
}

/** The value type of an internal key. */
export function typeOf(ikey: Uint8Array): ValueType {
  checkInternalKey(ikey);
  return ikey[ikey.length - TRAILER_SIZE_BYTES] as ValueType;
}

/**
 * Bytewise comparison: negative if a < b, 0 if equal, positive if a > b (a proper prefix
 * sorts first).
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Bytewise comparison of `a[a_start, a_end)` with `b[b_start, b_end)`, without making views:
 * the read path compares keys in place inside blocks.
 */
export function compareByteRanges(
  a: Uint8Array,
  a_start: number,
  a_end: number,
  b: Uint8Array,
  b_start: number,
  b_end: number,
): number {
  const a_len = a_end - a_start;
  const b_len = b_end - b_start;
  const n = a_len < b_len ? a_len : b_len;
  for (let i = 0; i < n; i++) {
    const d = a[a_start + i] - b[b_start + i];
    if (d !== 0) return d;
  }
  return a_len - b_len;
}

/**
 * Internal-key comparison on byte ranges holding whole internal keys: user key ascending,
 * then trailer (sequence, type) descending.
 */
export function compareInternalKeyRanges(
  a: Uint8Array,
  a_start: number,
  a_end: number,
  b: Uint8Array,
  b_start: number,
  b_end: number,
): number {
  const a_user_end = a_end - TRAILER_SIZE_BYTES;
  const b_user_end = b_end - TRAILER_SIZE_BYTES;
  const by_user = compareByteRanges(a, a_start, a_user_end, b, b_start, b_user_end);
  if (by_user !== 0) return by_user;
  return compareTrailers(a, a_user_end, b, b_user_end);
}

/**
 * Compares the 8-byte trailers at `a[a_offset]` and `b[b_offset]` in internal-key order
 * (sequence descending, then type descending), for callers that already compared the user
 * keys and found them equal.
 */
export function compareTrailers(
  a: Uint8Array,
  a_offset: number,
  b: Uint8Array,
  b_offset: number,
): number {
  // Little-endian: the most significant byte is last. Larger trailers sort first.
  for (let i = TRAILER_SIZE_BYTES - 1; i >= 0; i--) {
    const difference = b[b_offset + i] - a[a_offset + i];
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * Internal-key order: user key bytewise ascending, then sequence descending, then type
 * descending. Both arguments must be internal keys (at least 8 bytes).
 *
 * @example
 * ```ts
 * const k = new TextEncoder().encode("k");
 * compareInternalKeys(encodeInternalKey(k, 9, 1), encodeInternalKey(k, 3, 1)) < 0; // newer first
 * ```
 */
export function compareInternalKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length < TRAILER_SIZE_BYTES || b.length < TRAILER_SIZE_BYTES) {
    checkInternalKey(a);
    checkInternalKey(b);
  }
  return compareInternalKeyRanges(a, 0, a.length, b, 0, b.length);
}

/**
 * The key to seek to for reading `user_key` as of `snapshot_sequence`: it sorts before every
 * entry of that user key with sequence <= snapshot, and after the newer ones.
 */
export function lookupKey(user_key: Uint8Array, snapshot_sequence: number): Uint8Array {
  return encodeInternalKey(user_key, snapshot_sequence, ValueType.Value);
}

/** A readable rendering for error messages and debugging: `"user_key"@sequence:type`. */
export function formatInternalKey(ikey: Uint8Array): string {
  if (ikey.length < TRAILER_SIZE_BYTES) return `<malformed internal key, ${ikey.length} bytes>`;
  const user = userKeyOf(ikey);
  const printable = user.every((b) => b >= 0x20 && b < 0x7f);
  const shown = printable
    ? JSON.stringify(new TextDecoder().decode(user))
    : `0x${Array.from(user, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  return `${shown}@${sequenceOf(ikey)}:${typeOf(ikey) === ValueType.Value ? "value" : "deletion"}`;
}
