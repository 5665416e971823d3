/**
 * Writes a table file: data blocks, then the filter block, the index block and the footer.
 * Blocks are staged in one geometrically grown buffer and appended to the file in large
 * writes; `finish` syncs the file before it reports the table as written.
 *
 * @module
 */
import { basename } from "node:path";
import type { FileHandle, FileSystem } from "../../../shared/fs/mod.ts";
import { StorageError } from "../errors.ts";
import type { TableFileMeta } from "../manifest.ts";
import {
  compareInternalKeyRanges,
  formatInternalKey,
  MAX_SEQUENCE,
  TRAILER_SIZE_BYTES,
  ValueType,
  writeTrailer,
} from "../internal_key.ts";
import { BlockBuilder } from "./block_builder.ts";
import { BloomFilterBuilder, checkBitsPerKey } from "./bloom.ts";
import { writeVarint } from "./coding.ts";
import {
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  encodeFooter,
  FOOTER_SIZE_BYTES,
  MAX_BLOCK_SIZE_BYTES,
  writeBlockTrailer,
} from "./format.ts";
import { GrowableBuffer } from "./growable_buffer.ts";

/** How tables are laid out. */
export interface TableOptions {
  /** Data block size at which a block is closed (uncompressed contents; default 4096). */
  block_size_bytes: number;
  /** Entries between restart points in data blocks (default 16). */
  restart_interval: number;
  /** Bloom filter bits per user key (default 10; 0 writes no filter). */
  bloom_bits_per_key: number;
}

/** The defaults: LevelDB's block size and restart interval, a ~1% bloom filter. */
export const DEFAULT_TABLE_OPTIONS: Readonly<TableOptions> = {
  block_size_bytes: 4096,
  restart_interval: 16,
  bloom_bits_per_key: 10,
};

/** Largest key or value a table accepts (a block holding it must stay readable). */
export const MAX_ENTRY_PART_BYTES = 32 << 20;

/** Staged file bytes are appended once they reach this size. */
const WRITE_CHUNK_BYTES = 256 << 10;

const TABLE_FILE_PATTERN = /^(\d+)\.sst$/;

/** The file name of table `file_number`: six or more digits, zero-padded, then `.sst`. */
export function tableFileName(file_number: number): string {
  return `${String(file_number).padStart(6, "0")}.sst`;
}

/** The file number in a table path (`db/000042.sst` is 42); throws for any other name. */
export function parseTableFileNumber(path: string): number {
  const match = TABLE_FILE_PATTERN.exec(basename(path));
  if (match === null) {
    throw new StorageError(
      `table path "${path}" must end in a file name of digits and ".sst", e.g. 000042.sst`,
    );
  }
  return Number(match[1]);
}

/** Checks table options; throws StorageError naming the bad field and the allowed range. */
export function checkTableOptions(options: TableOptions): void {
  const { block_size_bytes, restart_interval, bloom_bits_per_key } = options;
  if (!Number.isInteger(block_size_bytes) || block_size_bytes < 64 || block_size_bytes > 16 << 20) {
    throw new StorageError(
      `block_size_bytes must be an integer in 64..${16 << 20}, got ${block_size_bytes}`,
    );
  }
  if (!Number.isInteger(restart_interval) || restart_interval < 1 || restart_interval > 1024) {
    throw new StorageError(
      `restart_interval must be an integer in 1..1024, got ${restart_interval}`,
    );
  }
  checkBitsPerKey(bloom_bits_per_key);
}

type BuilderState = "open" | "finished" | "abandoned";

/**
 * Builds one table file from entries added in increasing internal-key order.
 *
 * @example
 * ```ts
 * const builder = new TableBuilder(fs, "db/000007.sst", DEFAULT_TABLE_OPTIONS);
 * builder.add(encodeInternalKey(key, 1, ValueType.Value), value);
 * const meta = await builder.finish(); // synced; meta.file_number === 7
 * ```
 */
export class TableBuilder {
  readonly #fs: FileSystem;
  readonly #file: FileHandle;
  readonly #file_number: number;
  readonly #options: TableOptions;
  readonly #staged = new GrowableBuffer(WRITE_CHUNK_BYTES + (64 << 10));
  #offset_bytes = 0;
  readonly #data_block: BlockBuilder;
  readonly #index_block = new BlockBuilder(1, 4096);
  readonly #filter: BloomFilterBuilder | null;
  readonly #last_key = new GrowableBuffer(64);
  readonly #separator = new GrowableBuffer(64);
  readonly #handle_scratch = new Uint8Array(24);
  #smallest_key: Uint8Array | null = null;
  #pending_handle: BlockHandle | null = null;
  #entry_count = 0;
  #state: BuilderState = "open";

  /**
   * Creates (or truncates) the file at `path`.
   * @param fs file system to write through
   * @param path table file path; its name gives the file number (`000007.sst`)
   * @param options layout options
   */
  constructor(fs: FileSystem, readonly path: string, options: TableOptions) {
    checkTableOptions(options);
    this.#file_number = parseTableFileNumber(path);
    this.#options = { ...options };
    this.#data_block = new BlockBuilder(options.restart_interval, options.block_size_bytes * 2);
    this.#filter = options.bloom_bits_per_key > 0
      ? new BloomFilterBuilder(options.bloom_bits_per_key)
      : null;
    this.#fs = fs;
    this.#file = fs.open(path, "create");
  }

  /** Entries added so far. */
  entryCount(): number {
    return this.#entry_count;
  }

  /** File size so far: flushed blocks plus the open data block (used to split outputs). */
  estimatedSizeBytes(): number {
    return this.#offset_bytes + this.#data_block.estimatedSizeBytes();
  }

  /**
   * Adds an entry. Keys must be internal keys in strictly increasing internal order.
   * The arrays are copied; the caller may reuse them.
   */
  add(ikey: Uint8Array, value: Uint8Array): void {
    this.addRange(ikey, 0, ikey.length, value, 0, value.length);
  }

  /**
   * {@link TableBuilder.add} for the internal key `key_source[key_start, key_start +
   * key_length)` and the value `value_source[value_start, value_start + value_length)`, read in
   * place: a flush walks a memtable arena without making a view per entry.
   */
  addRange(
    key_source: Uint8Array,
    key_start: number,
    key_length: number,
    value_source: Uint8Array,
    value_start: number,
    value_length: number,
  ): void {
    this.#assertOpen("add");
    this.#checkSizes(key_length, value_length);
    // One pass over the common prefix with the last key serves the order check, the
    // filter's "new user key" test and the block's prefix compression.
    const last = this.#lastKey();
    const last_bytes = last.bytes;
    const limit = last.length < key_length ? last.length : key_length;
    let common = 0;
    while (common < limit && last_bytes[common] === key_source[key_start + common]) common++;
    const new_user_key = this.#entry_count === 0 ||
      this.#checkOrder(key_source, key_start, key_length, last, common);
    if (this.#pending_handle !== null) {
      this.#addIndexEntry(
        this.#shortestSeparator(key_source, key_start, key_length),
        this.#pending_handle,
      );
      this.#pending_handle = null;
    }
    if (this.#filter !== null && new_user_key) {
      this.#filter.addKey(key_source, key_start, key_start + key_length - TRAILER_SIZE_BYTES);
    }
    if (this.#entry_count === 0) {
      this.#smallest_key = key_source.slice(key_start, key_start + key_length);
    }
    this.#data_block.addRange(
      key_source,
      key_start,
      key_length,
      value_source,
      value_start,
      value_length,
      common,
    );
    this.#entry_count++;
    if (this.#data_block.estimatedSizeBytes() >= this.#options.block_size_bytes) {
      this.#flushDataBlock();
    }
  }

  /**
   * Writes the remaining data block, the filter, the index and the footer, syncs and closes
   * the file. A table needs at least one entry.
   */
  async finish(): Promise<TableFileMeta> {
    this.#assertOpen("finish");
    if (this.#entry_count === 0) {
      throw new StorageError(`${this.path}: cannot finish a table with no entries; abandon it`);
    }
    this.#state = "finished";
    if (!this.#data_block.empty()) this.#flushDataBlock();
    const filter_handle: BlockHandle = this.#filter === null
      ? { offset: 0, size_bytes: 0 }
      : this.#writeBlock(this.#filter.finish());
    if (this.#pending_handle !== null) {
      this.#addIndexEntry(this.#shortSuccessor(), this.#pending_handle);
      this.#pending_handle = null;
    }
    const index_handle = this.#writeBlock(this.#index_block.finish());
    this.#staged.append(encodeFooter({ filter: filter_handle, index: index_handle }));
    this.#flushStaged();
    const expected_size_bytes = this.#offset_bytes + FOOTER_SIZE_BYTES;
    if (
      this.#file_size_bytes !== expected_size_bytes || this.#file.size() !== expected_size_bytes
    ) {
      throw new StorageError(
        `${this.path}: table is ${this.#file.size()} bytes after finish, expected ${expected_size_bytes}`,
      );
    }
    try {
      await this.#file.sync();
    } finally {
      this.#file.close();
    }
    return {
      file_number: this.#file_number,
      size_bytes: this.#file_size_bytes,
      smallest_key: this.#smallest_key!,
      largest_key: this.#last_key.bytes.slice(0, this.#last_key.length),
    };
  }

  /** Stops building: closes and removes the file. Safe to call after a failed finish. */
  abandon(): void {
    if (this.#state === "abandoned") return;
    this.#state = "abandoned";
    this.#file.close();
    this.#fs.remove(this.path);
  }

  #file_size_bytes = 0;

  #assertOpen(operation: string): void {
    if (this.#state !== "open") {
      throw new StorageError(`${this.path}: TableBuilder.${operation} after ${this.#state}`);
    }
  }

  #checkSizes(key_length: number, value_length: number): void {
    if (key_length < TRAILER_SIZE_BYTES || key_length > MAX_ENTRY_PART_BYTES) {
      throw new StorageError(
        `${this.path}: internal key of ${key_length} bytes; allowed ${TRAILER_SIZE_BYTES}..${MAX_ENTRY_PART_BYTES}`,
      );
    }
    if (value_length > MAX_ENTRY_PART_BYTES) {
      throw new StorageError(
        `${this.path}: value of ${value_length} bytes; at most ${MAX_ENTRY_PART_BYTES} allowed`,
      );
    }
  }

  /** The last key added: in the open data block, or kept here once that block was written. */
  #lastKey(): GrowableBuffer {
    return this.#data_block.empty() ? this.#last_key : this.#data_block.last_key;
  }

  /**
   * Throws unless the key `source[start, start + length)` sorts after `last` (they share
   * `common` leading bytes); returns whether its user key differs from the last one.
   */
  #checkOrder(
    source: Uint8Array,
    start: number,
    length: number,
    last: GrowableBuffer,
    common: number,
  ): boolean {
    const last_user = last.length - TRAILER_SIZE_BYTES;
    const user = length - TRAILER_SIZE_BYTES;
    let in_order: boolean;
    let new_user_key = true;
    if (common < last_user && common < user) {
      in_order = source[start + common] > last.bytes[common];
    } else if (last_user !== user) {
      in_order = user > last_user; // one user key is a prefix of the other
    } else {
      new_user_key = false;
      in_order =
        compareInternalKeyRanges(source, start, start + length, last.bytes, 0, last.length) >
          0;
    }
    if (!in_order) {
      throw new StorageError(
        `${this.path}: keys must be added in increasing internal order; ` +
          `${formatInternalKey(source.slice(start, start + length))} does not follow ${
            formatInternalKey(last.view())
          }`,
      );
    }
    return new_user_key;
  }

  #flushDataBlock(): void {
    this.#last_key.clear();
    this.#last_key.append(this.#data_block.last_key.view());
    this.#pending_handle = this.#writeBlock(this.#data_block.finish());
    this.#data_block.reset();
  }

  #writeBlock(contents: Uint8Array): BlockHandle {
    if (contents.length > MAX_BLOCK_SIZE_BYTES) {
      throw new StorageError(
        `${this.path}: block of ${contents.length} bytes exceeds ${MAX_BLOCK_SIZE_BYTES}`,
      );
    }
    const handle = { offset: this.#offset_bytes, size_bytes: contents.length };
    const staged = this.#staged;
    staged.append(contents);
    staged.reserve(BLOCK_TRAILER_SIZE_BYTES);
    writeBlockTrailer(staged.bytes, staged.length, contents);
    staged.length += BLOCK_TRAILER_SIZE_BYTES;
    this.#offset_bytes += contents.length + BLOCK_TRAILER_SIZE_BYTES;
    if (staged.length >= WRITE_CHUNK_BYTES) this.#flushStaged();
    return handle;
  }

  #flushStaged(): void {
    if (this.#staged.length === 0) return;
    this.#file.append(this.#staged.view());
    this.#file_size_bytes += this.#staged.length;
    this.#staged.clear();
  }

  #addIndexEntry(separator: Uint8Array, handle: BlockHandle): void {
    let at = writeVarint(this.#handle_scratch, 0, handle.offset);
    at = writeVarint(this.#handle_scratch, at, handle.size_bytes);
    this.#index_block.add(separator, this.#handle_scratch.subarray(0, at));
  }

  /**
   * A short internal key k with last_key <= k < next_key: the user key cut after the first
   * differing byte, that byte incremented, and the largest trailer; or last_key itself.
   */
  #shortestSeparator(source: Uint8Array, start: number, length: number): Uint8Array {
    const last = this.#last_key;
    const a = last.bytes;
    const a_len = last.length - TRAILER_SIZE_BYTES;
    const b_len = length - TRAILER_SIZE_BYTES;
    const limit = Math.min(a_len, b_len);
    let i = 0;
    while (i < limit && a[i] === source[start + i]) i++;
    if (i < limit && a[i] < 0xff && a[i] + 1 < source[start + i]) {
      return this.#separatorFrom(a, i);
    }
    return last.view();
  }

  /** A short internal key >= last_key: first non-0xff user byte incremented, rest cut. */
  #shortSuccessor(): Uint8Array {
    const last = this.#last_key;
    const a_len = last.length - TRAILER_SIZE_BYTES;
    for (let i = 0; i < a_len; i++) {
      if (last.bytes[i] !== 0xff) return this.#separatorFrom(last.bytes, i);
    }
    return last.view();
  }

  /** `user[0, i)` ‖ `user[i] + 1` ‖ trailer(MAX_SEQUENCE, Value), in the separator buffer. */
  #separatorFrom(user: Uint8Array, i: number): Uint8Array {
    const out = this.#separator;
    out.clear();
    out.appendRange(user, 0, i + 1);
    out.bytes[i]++;
    out.reserve(TRAILER_SIZE_BYTES);
    writeTrailer(out.bytes, out.length, MAX_SEQUENCE, ValueType.Value);
    out.length += TRAILER_SIZE_BYTES;
    return out.view();
  }
}
