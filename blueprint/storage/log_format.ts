/**
 * LevelDB's log format, used by the write-ahead log.
 *
 * A log is a sequence of 32 KiB blocks. Each logical record is cut into one or more physical
 * records (fragments) that never cross a block boundary; a block tail too short for a header
 * (fewer than 7 bytes) is zero padding. A physical record is
 *
 * ```
 * masked CRC-32C (4, LE) | length (2, LE) | type (1) | payload (length)
 * ```
 *
 * where the CRC covers the type byte and the payload, and type is FULL (1), FIRST (2),
 * MIDDLE (3) or LAST (4). See FORMAT.md, "Write-ahead log".
 *
 * The reader never returns a wrong record: a damaged or incomplete record with nothing valid
 * after it is a torn tail (a write cut by a crash) and is dropped; damage followed by a valid
 * record is corruption of data that was already written, and throws {@link CorruptionError}.
 *
 * @module
 */
import { crc32cUpdate, maskCrc } from "../../shared/checksum/crc32c.ts";
import type { FileHandle, FileSystem } from "../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "./errors.ts";

/** Size of a log block in bytes. */
export const LOG_BLOCK_SIZE_BYTES = 32 * 1024;
/** Size of a physical record header in bytes: CRC (4) + length (2) + type (1). */
export const LOG_HEADER_SIZE_BYTES = 7;
/**
 * Largest logical record accepted, in bytes. Bounds the memory a reader spends on one record
 * whatever the file says.
 */
export const MAX_LOG_RECORD_BYTES = 64 * 1024 * 1024;

/** Physical record types. */
export enum LogRecordType {
  /** A whole logical record in one fragment. */
  FULL = 1,
  /** The first fragment of a logical record. */
  FIRST = 2,
  /** A fragment between FIRST and LAST. */
  MIDDLE = 3,
  /** The last fragment of a logical record. */
  LAST = 4,
}

/** CRC of each type byte alone, precomputed: the record CRC extends it with the payload. */
const TYPE_CRCS: number[] = [0, 1, 2, 3, 4].map((type) => crc32cUpdate(0, new Uint8Array([type])));

function recordCrc(type: number, payload: Uint8Array): number {
  return maskCrc(crc32cUpdate(TYPE_CRCS[type], payload));
}

function writeHeader(out: Uint8Array, at: number, type: LogRecordType, payload: Uint8Array): void {
  const crc = recordCrc(type, payload);
  out[at] = crc & 0xff;
  out[at + 1] = (crc >>> 8) & 0xff;
  out[at + 2] = (crc >>> 16) & 0xff;
  out[at + 3] = crc >>> 24;
  out[at + 4] = payload.length & 0xff;
  out[at + 5] = payload.length >>> 8;
  out[at + 6] = type;
}

/**
 * Appends records to a log file in the log format. Writes go to the file at once but are not
 * synced: durability is the caller's (see `Wal`).
 *
 * @example
 * ```ts
 * const writer = new LogWriter(fs.open("db/000003.log", "create"));
 * writer.add(new TextEncoder().encode("hello"));
 * ```
 */
export class LogWriter {
  readonly #file: FileHandle;
  /** Offset inside the current block where the next physical record starts. */
  #block_offset: number;

  /**
   * Creates a writer that appends to `file`.
   *
   * @param file an open, appendable file; appending continues after its current end
   */
  constructor(file: FileHandle) {
    this.#file = file;
    this.#block_offset = file.size() % LOG_BLOCK_SIZE_BYTES;
  }

  /**
   * Appends one logical record (any length from 0 to {@link MAX_LOG_RECORD_BYTES}) with a
   * single `append` call on the file.
   */
  add(record: Uint8Array): void {
    if (record.length > MAX_LOG_RECORD_BYTES) {
      throw new StorageError(
        `log record of ${record.length} bytes is too large; at most ${MAX_LOG_RECORD_BYTES}`,
      );
    }
    const encoded = this.#encode(record);
    this.#file.append(encoded);
  }

  /** Encodes `record` as the fragments and padding that go at the current position. */
  #encode(record: Uint8Array): Uint8Array {
    const out = new Uint8Array(this.#encodedSizeBytes(record.length));
    let out_offset = 0;
    let record_offset = 0;
    let first = true;
    // Each pass emits one fragment (after padding, if any): bounded by the record's blocks.
    do {
      const left_in_block = LOG_BLOCK_SIZE_BYTES - this.#block_offset;
      if (left_in_block < LOG_HEADER_SIZE_BYTES) {
        out_offset += left_in_block; // zero padding: `out` starts zeroed
        this.#block_offset = 0;
        continue;
      }
      const room = left_in_block - LOG_HEADER_SIZE_BYTES;
      const fragment_length = Math.min(room, record.length - record_offset);
      const last = record_offset + fragment_length === record.length;
      const type = first && last
        ? LogRecordType.FULL
        : first
        ? LogRecordType.FIRST
        : last
        ? LogRecordType.LAST
        : LogRecordType.MIDDLE;
      const fragment = record.subarray(record_offset, record_offset + fragment_length);
      writeHeader(out, out_offset, type, fragment);
      out.set(fragment, out_offset + LOG_HEADER_SIZE_BYTES);
      out_offset += LOG_HEADER_SIZE_BYTES + fragment_length;
      record_offset += fragment_length;
      this.#block_offset += LOG_HEADER_SIZE_BYTES + fragment_length;
      first = false;
      if (last) break;
    } while (true);
    if (out_offset !== out.length) {
      throw new Error(`log writer: encoded ${out_offset} bytes, expected ${out.length}`);
    }
    return out;
  }

  /** Bytes that `#encode` will produce for a record of `length` bytes from here. */
  #encodedSizeBytes(length: number): number {
    let block_offset = this.#block_offset;
    let left = length;
    let total = 0;
    // Each pass covers one fragment or one block trailer: bounded by the record's blocks.
    do {
      const left_in_block = LOG_BLOCK_SIZE_BYTES - block_offset;
      if (left_in_block < LOG_HEADER_SIZE_BYTES) {
        total += left_in_block;
        block_offset = 0;
        continue;
      }
      const fragment_length = Math.min(left_in_block - LOG_HEADER_SIZE_BYTES, left);
      total += LOG_HEADER_SIZE_BYTES + fragment_length;
      block_offset += LOG_HEADER_SIZE_BYTES + fragment_length;
      left -= fragment_length;
      if (left === 0) return total;
    } while (true);
  }
}

/** What {@link readLogRecords} found in a log file. */
export interface LogReadResult {
  /** Every complete logical record, in order. */
  records: Uint8Array[];
  /**
   * Where a dropped torn tail starts (an incomplete or damaged last record with nothing valid
   * after it); absent when the file ended cleanly. The valid log is the bytes before it.
   */
  torn_tail_offset?: number;
}

/** A physical record parsed at some offset, or why it could not be. */
type Parsed =
  | { ok: true; type: LogRecordType; payload: Uint8Array; end: number }
  | { ok: false; problem: string };

/** Parses the physical record whose header starts at `offset` (room for a header assumed). */
function parsePhysical(data: Uint8Array, offset: number): Parsed {
  if (data.length - offset < LOG_HEADER_SIZE_BYTES) {
    return { ok: false, problem: "incomplete record header" };
  }
  const length = data[offset + 4] | (data[offset + 5] << 8);
  const type = data[offset + 6];
  const left_in_block = LOG_BLOCK_SIZE_BYTES - (offset % LOG_BLOCK_SIZE_BYTES);
  if (type < LogRecordType.FULL || type > LogRecordType.LAST) {
    return { ok: false, problem: `unknown record type ${type}` };
  }
  if (LOG_HEADER_SIZE_BYTES + length > left_in_block) {
    return { ok: false, problem: `record length ${length} crosses the block boundary` };
  }
  const end = offset + LOG_HEADER_SIZE_BYTES + length;
  if (end > data.length) return { ok: false, problem: "incomplete record payload" };
  const payload = data.subarray(offset + LOG_HEADER_SIZE_BYTES, end);
  const stored_crc = (data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16) |
    (data[offset + 3] << 24)) >>> 0;
  if (stored_crc !== recordCrc(type, payload)) return { ok: false, problem: "checksum mismatch" };
  return { ok: true, type, payload, end };
}

/** Where a valid physical record starts after `offset`, if one does anywhere. */
function validRecordAfter(data: Uint8Array, offset: number): number | undefined {
  // Fast path: the writer starts every block with a header, so damage inside the log (not
  // at its end) is usually found valid at the next block start, without a byte-wise scan.
  const next_block = offset - (offset % LOG_BLOCK_SIZE_BYTES) + LOG_BLOCK_SIZE_BYTES;
  for (let at = next_block; at + LOG_HEADER_SIZE_BYTES <= data.length; at += LOG_BLOCK_SIZE_BYTES) {
    if (parsePhysical(data, at).ok) return at;
  }
  // One candidate per byte position: bounded by the file length. The type and length checks
  // reject almost every position before the CRC is computed.
  for (let at = offset + 1; at + LOG_HEADER_SIZE_BYTES <= data.length; at++) {
    if (LOG_BLOCK_SIZE_BYTES - (at % LOG_BLOCK_SIZE_BYTES) < LOG_HEADER_SIZE_BYTES) continue;
    const type = data[at + 6];
    if (type < LogRecordType.FULL || type > LogRecordType.LAST) continue;
    if (parsePhysical(data, at).ok) return at;
  }
  return undefined;
}

/** Concatenates fragments of one logical record (one fragment is returned as it is). */
function joinFragments(fragments: Uint8Array[], length: number): Uint8Array {
  if (fragments.length === 1) return fragments[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const fragment of fragments) {
    out.set(fragment, at);
    at += fragment.length;
  }
  return out;
}

/**
 * Reads every record of a log file.
 *
 * @returns the records, and `torn_tail_offset` if an incomplete or damaged tail was dropped
 * @throws CorruptionError naming the file and offset when damage is followed by a valid record
 * @throws FileNotFoundError when the file does not exist
 * @example
 * ```ts
 * const { records, torn_tail_offset } = readLogRecords(fs, "db/000003.log");
 * ```
 */
export function readLogRecords(fs: FileSystem, path: string): LogReadResult {
  return parseLogRecords(fs.readFile(path), path);
}

/**
 * Parses log bytes already in memory, as {@link readLogRecords} does for a file. Records of
 * one fragment are views into `data` (no copy): do not modify `data` while they are in use.
 *
 * @param data the whole log
 * @param path the file name, for error messages
 */
export function parseLogRecords(data: Uint8Array, path: string): LogReadResult {
  const records: Uint8Array[] = [];
  let fragments: Uint8Array[] = [];
  let fragments_length = 0;
  let record_start = 0;
  let offset = 0;

  /** Ends the read at damage found at `damage_offset`: a torn tail, or corruption. */
  const damaged = (damage_offset: number, problem: string): LogReadResult => {
    const valid_at = validRecordAfter(data, damage_offset);
    if (valid_at !== undefined) {
      throw new CorruptionError(
        path,
        damage_offset,
        `${problem} in the write-ahead log, followed by a valid record at offset ${valid_at}`,
      );
    }
    const torn_tail_offset = fragments.length > 0 ? record_start : damage_offset;
    return { records, torn_tail_offset };
  };

  // Each pass consumes at least one byte: bounded by the file length.
  while (offset < data.length) {
    const left_in_block = LOG_BLOCK_SIZE_BYTES - (offset % LOG_BLOCK_SIZE_BYTES);
    if (left_in_block < LOG_HEADER_SIZE_BYTES) {
      offset += left_in_block; // block trailer padding
      continue;
    }
    const parsed = parsePhysical(data, offset);
    if (!parsed.ok) return damaged(offset, parsed.problem);
    const starts_record = parsed.type === LogRecordType.FULL ||
      parsed.type === LogRecordType.FIRST;
    if (starts_record !== (fragments.length === 0)) {
      const problem = starts_record
        ? `record starting at offset ${record_start} has no LAST fragment`
        : `${LogRecordType[parsed.type]} fragment without a FIRST`;
      throw new CorruptionError(path, offset, `${problem} in the write-ahead log`);
    }
    if (starts_record) record_start = offset;
    fragments_length += parsed.payload.length;
    if (fragments_length > MAX_LOG_RECORD_BYTES) {
      throw new CorruptionError(
        path,
        record_start,
        `log record longer than the limit of ${MAX_LOG_RECORD_BYTES} bytes`,
      );
    }
    fragments.push(parsed.payload);
    offset = parsed.end;
    if (parsed.type === LogRecordType.FULL || parsed.type === LogRecordType.LAST) {
      records.push(joinFragments(fragments, fragments_length));
      fragments = [];
      fragments_length = 0;
    }
  }
  if (fragments.length > 0) return { records, torn_tail_offset: record_start };
  return { records };
}
