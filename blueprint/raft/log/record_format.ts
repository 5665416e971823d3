/**
 * Framing of the records in a Raft log segment.
 *
 * ```
 * record := header_crc u32 | length u32 | type u8 | payload_crc u32 | payload[length]
 * ```
 * `header_crc` is the masked CRC-32C of the 9 bytes after it and `payload_crc` the masked
 * CRC-32C of the payload. The separate header checksum lets recovery look for a valid record
 * after a damaged one cheaply: that is how a torn tail (nothing valid after the damage) is
 * told apart from corruption in the middle (a valid record follows).
 *
 * @module
 */
import { crc32c, maskCrc, unmaskCrc } from "../../../shared/checksum/crc32c.ts";

/** Bytes of a record header. */
export const RECORD_HEADER_BYTES = 13;

/** Largest record payload accepted (an entry's data plus 17 bytes of fields). */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** What a record holds. */
export enum RecordType {
  /** One log entry. */
  Entry = 1,
  /** The hard state (term, vote, commit); the last one wins. */
  HardState = 2,
  /** A snapshot was installed: every entry before this record is discarded. */
  SnapshotMark = 3,
  /** Membership to start from (bootstrap or snapshot); the last one wins. */
  ConfState = 4,
}

const VALID_TYPES = new Set<number>([
  RecordType.Entry,
  RecordType.HardState,
  RecordType.SnapshotMark,
  RecordType.ConfState,
]);

/**
 * Writes one framed record into `out` at `offset` (which must have room for
 * `RECORD_HEADER_BYTES + payload.length`).
 */
export function writeRecord(
  out: Uint8Array,
  offset: number,
  type: RecordType,
  payload: Uint8Array,
): void {
  out.set(payload, offset + RECORD_HEADER_BYTES);
  sealRecord(out, offset, type, payload.length);
}

/**
 * Fills in the header of a record whose payload is already in place at
 * `offset + RECORD_HEADER_BYTES` (lets callers encode payloads without a copy).
 */
export function sealRecord(
  out: Uint8Array,
  offset: number,
  type: RecordType,
  payload_length: number,
): void {
  if (payload_length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(
      `record payload is ${payload_length} bytes; at most ${MAX_RECORD_PAYLOAD_BYTES} allowed`,
    );
  }
  const payload_start = offset + RECORD_HEADER_BYTES;
  const view = new DataView(out.buffer, out.byteOffset + offset, RECORD_HEADER_BYTES);
  view.setUint32(4, payload_length, true);
  view.setUint8(8, type);
  view.setUint32(
    9,
    maskCrc(crc32c(out.subarray(payload_start, payload_start + payload_length))),
    true,
  );
  const header_crc = crc32c(out.subarray(offset + 4, payload_start));
  view.setUint32(0, maskCrc(header_crc), true);
}

/** Frames one record into a new buffer. */
export function encodeRecord(type: RecordType, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  writeRecord(out, 0, type, payload);
  return out;
}

/** A record found in a segment. */
export interface ScannedRecord {
  /** Offset of the record's header in the segment. */
  offset: number;
  /** Header plus payload. */
  size_bytes: number;
  /** What it holds. */
  type: RecordType;
  /** Its payload (a view into the scanned bytes). */
  payload: Uint8Array;
}

/** Outcome of checking the bytes at one offset. */
type Probe =
  | { ok: true; record: ScannedRecord }
  | { ok: false; detail: string };

/** Checks whether a whole, valid record starts at `offset` in `data`. */
export function probeRecord(data: Uint8Array, offset: number): Probe {
  if (data.length - offset < RECORD_HEADER_BYTES) {
    return { ok: false, detail: `incomplete header (${data.length - offset} bytes)` };
  }
  const view = new DataView(data.buffer, data.byteOffset + offset, RECORD_HEADER_BYTES);
  const stored_header_crc = unmaskCrc(view.getUint32(0, true));
  if (crc32c(data.subarray(offset + 4, offset + RECORD_HEADER_BYTES)) !== stored_header_crc) {
    return { ok: false, detail: "header checksum mismatch" };
  }
  const length = view.getUint32(4, true);
  const type = view.getUint8(8);
  if (!VALID_TYPES.has(type)) return { ok: false, detail: `unknown record type ${type}` };
  if (length > MAX_RECORD_PAYLOAD_BYTES) {
    return { ok: false, detail: `record length ${length} exceeds ${MAX_RECORD_PAYLOAD_BYTES}` };
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > data.length) {
    return { ok: false, detail: `record of ${length} bytes runs past the end of the file` };
  }
  const payload = data.subarray(offset + RECORD_HEADER_BYTES, end);
  if (crc32c(payload) !== unmaskCrc(view.getUint32(9, true))) {
    return { ok: false, detail: "payload checksum mismatch" };
  }
  return {
    ok: true,
    record: { offset, size_bytes: RECORD_HEADER_BYTES + length, type, payload },
  };
}

/** Result of scanning a whole segment. */
export interface SegmentScan {
  /** Valid records in order. */
  records: ScannedRecord[];
  /** Where the damaged tail starts, if the segment ends in one (a torn write). */
  torn_tail_offset?: number;
  /**
   * Set when a damaged record is followed by a valid one: corruption, not a torn write.
   * `offset` is where the damage is.
   */
  corruption?: { offset: number; detail: string };
}

/**
 * Splits a segment's bytes into records. A damaged record with nothing valid after it is a
 * torn tail; a damaged record followed by a valid record is corruption.
 */
export function scanSegment(data: Uint8Array): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  // Bounded: every iteration consumes at least one header's worth of bytes.
  while (offset < data.length) {
    const probe = probeRecord(data, offset);
    if (!probe.ok) {
      const later = findValidRecordAfter(data, offset + 1);
      if (later === -1) return { records, torn_tail_offset: offset };
      return { records, corruption: { offset, detail: probe.detail } };
    }
    records.push(probe.record);
    offset += probe.record.size_bytes;
  }
  return { records };
}

/** First offset >= `from` where a valid record starts, or -1. One pass over the tail. */
function findValidRecordAfter(data: Uint8Array, from: number): number {
  for (let offset = from; offset + RECORD_HEADER_BYTES <= data.length; offset++) {
    if (probeRecord(data, offset).ok) return offset;
  }
  return -1;
}
