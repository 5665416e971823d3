/**
 * The state machine's layout in the one LSM keyspace (see LAYOUT.md): storage keys for each
 * kind of record and the encodings of the records themselves.
 *
 * @module
 */
import { ByteReader, ByteWriter } from "./byte_codec.ts";
import type { KeyValue, KvEvent } from "./types.ts";

/** First byte of every storage key, one per kind of record. */
export const PREFIX = {
  /** Attachment of a key to a lease: `a | lease u64 | key` -> empty. */
  attachment: 0x61,
  /** De-duplication window entry: `d | esc(member) 00 01 | seq u64` -> index, response. */
  dedup: 0x64,
  /** Event log: `e | revision u64 | sub u32` -> event. */
  event: 0x65,
  /** Versioned history: `h | esc(key) 00 01 | revision u64` -> record. */
  history: 0x68,
  /** Latest value: `k | key` -> record. */
  latest: 0x6b,
  /** Lease: `l | id u64` -> ttl. */
  lease: 0x6c,
  /** Meta: `m` -> {@link Meta}. */
  meta: 0x6d,
} as const;

/** Bounds of a storage scan: [start, end). */
export interface StorageRange {
  /** First storage key included. */
  start: Uint8Array;
  /** First storage key excluded. */
  end: Uint8Array;
}

/** Record stored under a latest or history key. A tombstone has version 0. */
export interface VersionRecord {
  /** Revision of the key's creation (0 in a tombstone). */
  create_revision: number;
  /** Revision of this change. */
  mod_revision: number;
  /** Modifications since creation; 0 marks a deletion. */
  version: number;
  /** Attached lease, 0 for none. */
  lease: number;
  /** Value (empty in a tombstone). */
  value: Uint8Array;
}

/** The state machine's progress, stored under `m`. */
export interface Meta {
  /** Last Raft index applied. */
  applied_index: number;
  /** Term of that entry. */
  applied_term: number;
  /** Store revision (etcd's header.revision). */
  revision: number;
  /** Oldest readable revision (0 = never compacted). */
  compact_revision: number;
  /** Revision up to which history was physically removed (catches up to compact_revision). */
  purged_revision: number;
  /** True while a snapshot restore is half done: the keyspace is not usable. */
  restoring: boolean;
}

const META_FORMAT = 1;
const text_encoder = new TextEncoder();

/** Storage key of the meta record. */
export const META_KEY: Uint8Array = Uint8Array.of(PREFIX.meta);

function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** 8-byte big-endian encoding of a safe integer: byte order equals numeric order. */
export function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  writeU64(out, 0, value);
  return out;
}

/** Writes {@link u64} into `out` at `offset`. */
export function writeU64(out: Uint8Array, offset: number, value: number): void {
  let high = Math.floor(value / 0x1_0000_0000);
  let low = value >>> 0;
  for (let i = 3; i >= 0; i--) {
    out[offset + i] = high & 0xff;
    out[offset + 4 + i] = low & 0xff;
    high >>>= 8;
    low >>>= 8;
  }
}

/** Reads {@link u64} at `offset`. */
export function readU64(bytes: Uint8Array, offset: number): number {
  let high = 0;
  let low = 0;
  for (let i = 0; i < 4; i++) {
    high = high * 256 + bytes[offset + i];
    low = low * 256 + bytes[offset + 4 + i];
  }
  return high * 0x1_0000_0000 + low;
}

const TERMINATOR = Uint8Array.of(0x00, 0x01);

/**
 * Order-preserving, prefix-free escaping: 00 becomes 00 FF and the result ends in 00 01, so
 * escaped keys (and anything appended after them) sort as the raw keys do. With
 * `prefix_byte`, the result starts with that byte.
 */
export function escapeKey(key: Uint8Array, prefix_byte?: number): Uint8Array {
  let zeros = 0;
  for (const byte of key) if (byte === 0) zeros++;
  const extra = prefix_byte === undefined ? 0 : 1;
  const out = new Uint8Array(extra + key.length + zeros + 2);
  let j = 0;
  if (prefix_byte !== undefined) out[j++] = prefix_byte;
  for (const byte of key) {
    out[j++] = byte;
    if (byte === 0) out[j++] = 0xff;
  }
  out.set(TERMINATOR, j);
  return out;
}

/** Inverse of {@link escapeKey} for `bytes[offset..]`: the key and the offset after it. */
export function unescapeKey(bytes: Uint8Array, offset: number): { key: Uint8Array; end: number } {
  const out: number[] = [];
  for (let i = offset; i + 1 < bytes.length; i++) {
    if (bytes[i] !== 0) {
      out.push(bytes[i]);
      continue;
    }
    if (bytes[i + 1] === 0x01) return { key: Uint8Array.from(out), end: i + 2 };
    if (bytes[i + 1] !== 0xff) break;
    out.push(0);
    i++;
  }
  throw new Error(`layout corrupt: unterminated escaped key at offset ${offset}`);
}

/** `k | key`. */
export function latestKey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = PREFIX.latest;
  out.set(key, 1);
  return out;
}

/** `h | esc(key)`: the prefix of every version of `key`. */
export function historyPrefix(key: Uint8Array): Uint8Array {
  return escapeKey(key, PREFIX.history);
}

/** `h | esc(key) | revision`. */
export function historyKey(key: Uint8Array, revision: number): Uint8Array {
  const prefix = historyPrefix(key);
  const out = new Uint8Array(prefix.length + 8);
  out.set(prefix);
  writeU64(out, prefix.length, revision);
  return out;
}

/** `e | revision | sub`. */
export function eventKey(revision: number, sub_revision: number): Uint8Array {
  const out = new Uint8Array(13);
  out[0] = PREFIX.event;
  writeU64(out, 1, revision);
  out[9] = sub_revision >>> 24;
  out[10] = (sub_revision >>> 16) & 0xff;
  out[11] = (sub_revision >>> 8) & 0xff;
  out[12] = sub_revision & 0xff;
  return out;
}

/** Revision and sub-revision of an event storage key. */
export function parseEventKey(key: Uint8Array): { revision: number; sub_revision: number } {
  const sub_revision = ((key[9] << 24) >>> 0) + (key[10] << 16) + (key[11] << 8) + key[12];
  return { revision: readU64(key, 1), sub_revision };
}

/** `l | id`. */
export function leaseKey(id: number): Uint8Array {
  return concat(Uint8Array.of(PREFIX.lease), u64(id));
}

/** `a | id | key`. */
export function attachmentKey(id: number, key: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(PREFIX.attachment), u64(id), key);
}

/** `d | esc(member)`: prefix of one origin's window. */
export function dedupPrefix(member_id: string): Uint8Array {
  return escapeKey(text_encoder.encode(member_id), PREFIX.dedup);
}

/** `d | esc(member) | seq`; pass the origin's {@link dedupPrefix} when at hand. */
export function dedupKey(member_id: string | Uint8Array, sequence: number): Uint8Array {
  const prefix = typeof member_id === "string" ? dedupPrefix(member_id) : member_id;
  const out = new Uint8Array(prefix.length + 8);
  out.set(prefix);
  writeU64(out, prefix.length, sequence);
  return out;
}

/** Bounds of a one-byte prefix. */
export function prefixRange(prefix: number): StorageRange {
  return { start: Uint8Array.of(prefix), end: Uint8Array.of(prefix + 1) };
}

/**
 * Storage bounds, under `prefix_of(key)`, of an etcd key range: empty `range_end` = `key`
 * alone, `[0]` = every key >= `key`, otherwise [key, range_end). Undefined when empty.
 */
export function keyRangeBounds(
  key: Uint8Array,
  range_end: Uint8Array | undefined,
  prefix_byte: number,
  prefix_of: (key: Uint8Array) => Uint8Array,
): StorageRange | undefined {
  const start = prefix_of(key);
  if (range_end === undefined || range_end.length === 0) {
    if (prefix_byte !== PREFIX.history) return { start, end: concat(start, Uint8Array.of(0)) };
    // Every version of the key is `start | revision`: bump the terminator's last byte.
    const end = start.slice();
    end[end.length - 1]++;
    return { start, end };
  }
  if (range_end.length === 1 && range_end[0] === 0) {
    return { start, end: Uint8Array.of(prefix_byte + 1) };
  }
  if (compareBytes(range_end, key) <= 0) return undefined;
  return { start, end: prefix_of(range_end) };
}

/** Whether `key` lies in the etcd range (`key`, `range_end`). */
export function inKeyRange(
  candidate: Uint8Array,
  key: Uint8Array,
  range_end: Uint8Array | undefined,
): boolean {
  if (range_end === undefined || range_end.length === 0) return compareBytes(candidate, key) === 0;
  if (compareBytes(candidate, key) < 0) return false;
  if (range_end.length === 1 && range_end[0] === 0) return true;
  return compareBytes(candidate, range_end) < 0;
}

/** Bytewise comparison. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Encodes a version record. */
export function encodeRecord(record: VersionRecord): Uint8Array {
  const out = new ByteWriter(16 + record.value.length);
  out.varint(record.create_revision).varint(record.mod_revision).varint(record.version);
  return out.varint(record.lease).raw(record.value).finish();
}

/** Decodes a version record (the value is a copy). */
export function decodeRecord(bytes: Uint8Array): VersionRecord {
  const input = new ByteReader(bytes, "stored version record");
  const create_revision = input.varint();
  const mod_revision = input.varint();
  const version = input.varint();
  const lease = input.varint();
  return {
    create_revision,
    mod_revision,
    version,
    lease,
    value: input.raw(input.remaining).slice(),
  };
}

/** A record as a KeyValue of `key`. */
export function toKeyValue(key: Uint8Array, record: VersionRecord, keys_only = false): KeyValue {
  return {
    key,
    value: keys_only ? new Uint8Array(0) : record.value,
    create_revision: record.create_revision,
    mod_revision: record.mod_revision,
    version: record.version,
    lease: record.lease,
  };
}

/**
 * Encodes an event: type byte and key only. The version itself is the history record
 * `h | esc(key) | revision`, so values are not written a third time.
 */
export function encodeEvent(event: KvEvent): Uint8Array {
  const out = new Uint8Array(event.kv.key.length + 1);
  out[0] = event.type === "put" ? 1 : 2;
  out.set(event.kv.key, 1);
  return out;
}

/**
 * Decodes an event stored under `storage_key`; `history` is the key's history record at
 * the event's revision (undefined for a deletion whose tombstone compaction removed).
 */
export function decodeEvent(
  storage_key: Uint8Array,
  bytes: Uint8Array,
  history: (key: Uint8Array, revision: number) => Uint8Array | undefined,
): KvEvent {
  const type_byte = bytes[0];
  if (type_byte !== 1 && type_byte !== 2) {
    throw new Error(`layout corrupt: event type ${type_byte} (allowed: 1 put, 2 delete)`);
  }
  const { revision, sub_revision } = parseEventKey(storage_key);
  const key = bytes.slice(1);
  const stored = history(key, revision);
  if (stored === undefined && type_byte === 1) {
    throw new Error(`layout corrupt: put event at revision ${revision} has no history record`);
  }
  const record = stored === undefined
    ? { create_revision: 0, mod_revision: revision, version: 0, lease: 0, value: new Uint8Array(0) }
    : decodeRecord(stored);
  return { type: type_byte === 1 ? "put" : "delete", kv: toKeyValue(key, record), sub_revision };
}

/** Encodes the meta record. */
export function encodeMeta(meta: Meta): Uint8Array {
  const out = new ByteWriter(48);
  out.u8(META_FORMAT).varint(meta.applied_index).varint(meta.applied_term).varint(meta.revision);
  out.varint(meta.compact_revision).varint(meta.purged_revision).u8(meta.restoring ? 1 : 0);
  return out.finish();
}

/** Decodes the meta record. */
export function decodeMeta(bytes: Uint8Array): Meta {
  const input = new ByteReader(bytes, "stored meta record");
  const format = input.u8();
  if (format !== META_FORMAT) input.fail(`meta format ${format} (allowed: ${META_FORMAT})`);
  const meta = {
    applied_index: input.varint(),
    applied_term: input.varint(),
    revision: input.varint(),
    compact_revision: input.varint(),
    purged_revision: input.varint(),
    restoring: input.bool(),
  };
  input.end();
  return meta;
}

/** Meta of an empty store. */
export function emptyMeta(): Meta {
  return {
    applied_index: 0,
    applied_term: 0,
    revision: 0,
    compact_revision: 0,
    purged_revision: 0,
    restoring: false,
  };
}
