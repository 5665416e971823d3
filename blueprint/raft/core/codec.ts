/**
 * Compact binary encoding of {@link Message}, {@link Entry} and {@link ConfChange}.
 *
 * Message layout: u8 version=1, u8 type, u8 flags (bit0 reject, bit1 has snapshot, bit2 has
 * context), str from, str to, num term, num log_term, num index, num commit, num reject_hint,
 * u32 entry count, entries, [snapshot], [bytes context]. num = unsigned LEB128 varint of a
 * safe integer (at most 8 bytes, minimal encoding); u16/u32 little endian; str = u16 length +
 * UTF-8; bytes = u32 length + data; entry = num term, num index, u8 type, bytes data;
 * snapshot = num index, num term, u32 voters, str*, u32 learners, str*, bytes data.
 * Decoding throws {@link CodecError} on any malformed input.
 *
 * @module
 */
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
} from "./types.ts";

/** Largest encoded message accepted (64 MiB). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Most entries one message may carry. */
export const MAX_ENTRIES_PER_MESSAGE = 65_536;
/** Longest node id in UTF-8 bytes. */
export const MAX_NODE_ID_BYTES = 255;
/** Most members a snapshot's configuration may list. */
export const MAX_MEMBERS = 1024;
const VERSION = 1;
/** 8 × 7 bits cover every safe integer (2^53 − 1). */
const MAX_VARINT_BYTES = 8;

/** Malformed or oversized encoded input. */
export class CodecError extends Error {
  /** Describe what was wrong with the input. */
  constructor(message: string) {
    super(`raft codec: ${message}`);
    this.name = "CodecError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
/** Encoded node ids, cached: the same few ids appear in every message. Bounded. */
const id_cache = new Map<string, Uint8Array>();
const MAX_CACHED_IDS = 4096;

function idBytes(id: string, what: string): Uint8Array {
  let bytes = id_cache.get(id);
  if (bytes === undefined) {
    bytes = encoder.encode(id);
    if (bytes.length > MAX_NODE_ID_BYTES) {
      throw new CodecError(`${what} is ${bytes.length} bytes; at most ${MAX_NODE_ID_BYTES}`);
    }
    if (id_cache.size >= MAX_CACHED_IDS) id_cache.clear();
    id_cache.set(id, bytes);
  }
  return bytes;
}

/** Writes into a buffer sized exactly up front (see the `*Size` helpers). */
class Writer {
  #buf: Uint8Array;
  #pos = 0;

  constructor(capacity_bytes: number) {
    if (capacity_bytes > MAX_MESSAGE_BYTES + 1024) {
      throw new CodecError(`message exceeds ${MAX_MESSAGE_BYTES} bytes`);
    }
    this.#buf = new Uint8Array(capacity_bytes);
  }

  #ensure(n: number): void {
    if (this.#pos + n > this.#buf.length) {
      throw new Error(`raft codec invariant: size too small at byte ${this.#pos}`);
    }
  }

  u8(v: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = v;
  }

  u16(v: number): void {
    this.#ensure(2);
    this.#buf[this.#pos++] = v & 0xff;
    this.#buf[this.#pos++] = v >>> 8;
  }

  u32(v: number): void {
    this.#ensure(4);
    this.#buf[this.#pos++] = v & 0xff;
    this.#buf[this.#pos++] = (v >>> 8) & 0xff;
    this.#buf[this.#pos++] = (v >>> 16) & 0xff;
    this.#buf[this.#pos++] = v >>> 24;
  }

  /** Unsigned LEB128 varint: small numbers (the common case) take one or two bytes. */
  num(v: number, what: string): void {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new CodecError(`${what} must be a non-negative safe integer, got ${v}`);
    }
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.u8(v);
  }

  str(s: string, what: string): void {
    const bytes = idBytes(s, what);
    this.u16(bytes.length);
    this.raw(bytes);
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    this.#ensure(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }

  finish(): Uint8Array {
    if (this.#pos !== this.#buf.length) {
      throw new Error(`raft codec invariant: wrote ${this.#pos} of ${this.#buf.length} bytes`);
    }
    return this.#buf;
  }
}

/** Encoded size of a varint; validates the number so sizing fails as early as writing. */
function numSize(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new CodecError(`${what} must be a non-negative safe integer, got ${v}`);
  }
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    size++;
  }
  return size;
}

/** Encoded size of a string (u16 length + UTF-8). */
function strSize(s: string, what: string): number {
  return 2 + idBytes(s, what).length;
}

function entrySize(e: Entry): number {
  return numSize(e.term, "entry term") + numSize(e.index, "entry index") + 1 + 4 + e.data.length;
}

/** Exact encoded size, so the output buffer is allocated once and never sliced. */
function messageSize(m: Message): number {
  let size = 3 + strSize(m.from, "from") + strSize(m.to, "to") + 4;
  size += numSize(m.term, "term") + numSize(m.log_term, "log_term") + numSize(m.index, "index");
  size += numSize(m.commit, "commit") + numSize(m.reject_hint, "reject_hint");
  for (const e of m.entries) size += entrySize(e);
  if (m.snapshot) {
    const { meta, data } = m.snapshot;
    size += numSize(meta.index, "snapshot index") + numSize(meta.term, "snapshot term");
    size += 8 + 4 + data.length;
    for (const id of meta.conf_state.voters) size += strSize(id, "voters");
    for (const id of meta.conf_state.learners) size += strSize(id, "learners");
  }
  if (m.context) size += 4 + m.context.length;
  return size;
}

class Reader {
  readonly #buf: Uint8Array;
  /** A private copy of the input, made on the first byte field (heartbeats never need it). */
  #owned: Uint8Array | undefined;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  #need(n: number, what: string): void {
    if (this.#pos + n > this.#buf.length) {
      throw new CodecError(`truncated input reading ${what} at byte ${this.#pos}`);
    }
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#buf[this.#pos++];
  }

  u16(what: string): number {
    this.#need(2, what);
    const b = this.#buf;
    const v = b[this.#pos] | (b[this.#pos + 1] << 8);
    this.#pos += 2;
    return v;
  }

  u32(what: string): number {
    this.#need(4, what);
    const b = this.#buf;
    const p = this.#pos;
    this.#pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  num(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.u8(what);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new CodecError(`${what} has a non-minimal varint encoding`);
        if (!Number.isSafeInteger(value)) {
          throw new CodecError(`${what} must be a non-negative safe integer, got ${value}`);
        }
        return value;
      }
      scale *= 0x80;
    }
    throw new CodecError(`${what} varint is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  str(what: string): string {
    const len = this.u16(what);
    if (len > MAX_NODE_ID_BYTES) {
      throw new CodecError(`${what} is ${len} bytes; at most ${MAX_NODE_ID_BYTES}`);
    }
    this.#need(len, what);
    const start = this.#pos;
    this.#pos += len;
    // ASCII fast path: node ids are almost always plain ASCII.
    let ascii = "";
    for (let i = start; i < start + len; i++) {
      const c = this.#buf[i];
      if (c >= 0x80) return this.#utf8(start, len, what);
      ascii += String.fromCharCode(c);
    }
    return ascii;
  }

  #utf8(start: number, len: number, what: string): string {
    try {
      return decoder.decode(this.#buf.subarray(start, start + len));
    } catch {
      throw new CodecError(`${what} is not valid UTF-8`);
    }
  }

  bytes(what: string): Uint8Array {
    const len = this.u32(what);
    this.#need(len, what);
    // One copy per message (cheaper than one per entry); views never alias the caller's
    // buffer, which it may reuse.
    this.#owned ??= this.#buf.slice();
    const b = this.#owned.subarray(this.#pos, this.#pos + len);
    this.#pos += len;
    return b;
  }

  done(): void {
    if (this.#pos !== this.#buf.length) {
      throw new CodecError(`${this.#buf.length - this.#pos} trailing bytes`);
    }
  }
}

function writeEntry(w: Writer, e: Entry): void {
  w.num(e.term, "entry term");
  w.num(e.index, "entry index");
  w.u8(e.type);
  w.bytes(e.data);
}

function readEntry(r: Reader): Entry {
  const term = r.num("entry term");
  const index = r.num("entry index");
  const type = r.u8("entry type");
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
    throw new CodecError(`entry type ${type} is unknown; allowed 0 (Normal) or 1 (ConfChange)`);
  }
  return { term, index, type, data: r.bytes("entry data") };
}

function writeMembers(w: Writer, ids: string[], what: string): void {
  if (ids.length > MAX_MEMBERS) {
    throw new CodecError(`${what} has ${ids.length} members; at most ${MAX_MEMBERS}`);
  }
  w.u32(ids.length);
  for (const id of ids) w.str(id, what);
}

function readMembers(r: Reader, what: string): string[] {
  const n = r.u32(what);
  if (n > MAX_MEMBERS) throw new CodecError(`${what} has ${n} members; at most ${MAX_MEMBERS}`);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(r.str(what));
  return ids;
}

function readConfState(r: Reader): ConfState {
  return { voters: readMembers(r, "voters"), learners: readMembers(r, "learners") };
}

/** Encode a message. Throws {@link CodecError} if a field is out of range. */
export function encodeMessage(m: Message): Uint8Array {
  if (m.entries.length > MAX_ENTRIES_PER_MESSAGE) {
    throw new CodecError(`${m.entries.length} entries; at most ${MAX_ENTRIES_PER_MESSAGE}`);
  }
  const w = new Writer(messageSize(m));
  w.u8(VERSION);
  w.u8(m.type);
  w.u8((m.reject ? 1 : 0) | (m.snapshot ? 2 : 0) | (m.context ? 4 : 0));
  w.str(m.from, "from");
  w.str(m.to, "to");
  w.num(m.term, "term");
  w.num(m.log_term, "log_term");
  w.num(m.index, "index");
  w.num(m.commit, "commit");
  w.num(m.reject_hint, "reject_hint");
  w.u32(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  if (m.snapshot) {
    const s: Snapshot = m.snapshot;
    w.num(s.meta.index, "snapshot index");
    w.num(s.meta.term, "snapshot term");
    writeMembers(w, s.meta.conf_state.voters, "voters");
    writeMembers(w, s.meta.conf_state.learners, "learners");
    w.bytes(s.data);
  }
  if (m.context) w.bytes(m.context);
  return w.finish();
}

/** Decode a message; throws {@link CodecError} naming the first malformed field. */
export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new CodecError(`message is ${bytes.length} bytes; at most ${MAX_MESSAGE_BYTES}`);
  }
  const r = new Reader(bytes);
  const version = r.u8("version");
  if (version !== VERSION) throw new CodecError(`version ${version} unknown; expected 1`);
  const type = r.u8("type");
  if (MessageType[type] === undefined) {
    throw new CodecError(
      `message type ${type} is unknown; allowed 0..${MessageType.TransferLeader}`,
    );
  }
  const flags = r.u8("flags");
  if (flags > 7) throw new CodecError(`flags ${flags} has unknown bits; allowed bits 0..2`);
  const m: Message = {
    type,
    from: r.str("from"),
    to: r.str("to"),
    term: r.num("term"),
    log_term: r.num("log_term"),
    index: r.num("index"),
    commit: r.num("commit"),
    reject: (flags & 1) !== 0,
    reject_hint: r.num("reject_hint"),
    entries: [],
  };
  const count = r.u32("entry count");
  if (count > MAX_ENTRIES_PER_MESSAGE) {
    throw new CodecError(`${count} entries; at most ${MAX_ENTRIES_PER_MESSAGE}`);
  }
  for (let i = 0; i < count; i++) m.entries.push(readEntry(r));
  if (flags & 2) {
    const index = r.num("snapshot index");
    const term = r.num("snapshot term");
    const conf_state = readConfState(r);
    m.snapshot = { meta: { index, term, conf_state }, data: r.bytes("snapshot data") };
  }
  if (flags & 4) m.context = r.bytes("context");
  r.done();
  return m;
}

/** Encode an entry on its own (for a log store). */
export function encodeEntry(e: Entry): Uint8Array {
  const w = new Writer(entrySize(e));
  writeEntry(w, e);
  return w.finish();
}

/** Decode an entry; throws {@link CodecError} on malformed input. */
export function decodeEntry(bytes: Uint8Array): Entry {
  const r = new Reader(bytes);
  const e = readEntry(r);
  r.done();
  return e;
}

/** Encode a membership change as an entry payload. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (ConfChangeType[cc.type] === undefined) {
    throw new CodecError(
      `conf change type ${cc.type} is unknown; allowed 0 (AddVoter), 1 (RemoveNode), 2 (AddLearner)`,
    );
  }
  if (typeof cc.node_id !== "string" || cc.node_id.length === 0) {
    throw new CodecError("conf change node_id must be a non-empty string");
  }
  const w = new Writer(1 + strSize(cc.node_id, "conf change node_id"));
  w.u8(cc.type);
  w.str(cc.node_id, "conf change node_id");
  return w.finish();
}

/** Decode a membership change; throws {@link CodecError} on malformed input. */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const r = new Reader(bytes);
  const type = r.u8("conf change type");
  if (ConfChangeType[type] === undefined) {
    throw new CodecError(
      `conf change type ${type} is unknown; allowed 0 (AddVoter), 1 (RemoveNode), 2 (AddLearner)`,
    );
  }
  const node_id = r.str("conf change node_id");
  if (node_id.length === 0) throw new CodecError("conf change node_id is empty");
  r.done();
  return { type, node_id };
}
