/**
 * Reads a table file: footer, index and filter are read and verified at open and stay pinned;
 * data blocks come through the shared {@link BlockCache}, each verified when first read.
 *
 * Point lookups (`get`) consult the bloom filter first and then search the index and one data
 * block in place, reusing the reader's buffers: no allocation unless a block must be read or
 * a value is found.
 *
 * @module
 */
import type { FileHandle, FileSystem } from "../../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "../errors.ts";
import type { InternalIterator } from "../iterator.ts";
import {
  compareByteRanges,
  MAX_SEQUENCE,
  TRAILER_SIZE_BYTES,
  ValueType,
  writeTrailer,
} from "../internal_key.ts";
import { Block, BlockIterator } from "./block.ts";
import type { BlockCache } from "./block_cache.ts";
import { bloomMayContain } from "./bloom.ts";
import { readUint32LE, VarintReader } from "./coding.ts";
import {
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  checkHandle,
  decodeBlockHandle,
  decodeFooter,
  FOOTER_SIZE_BYTES,
  readBlockContents,
  readBlockContentsInto,
} from "./format.ts";
import { GrowableBuffer } from "./growable_buffer.ts";

/**
 * Block iterators a reader keeps from closed table iterators for the next ones: a seek opens
 * one table iterator (two block iterators) per table, and building them fresh each time was
 * a sixth of a random seek's cost.
 */
const MAX_SPARE_BLOCK_ITERATORS = 4;

/** What spare iterators point at, so they do not keep an evicted block alive. */
const EMPTY_BLOCK = new Block(new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0]), "(none)", 0);

/** Options of {@link TableReader.iterator}. */
export interface TableIteratorOptions {
  /** Whether blocks this iterator reads from disk enter the block cache (default true). */
  fill_cache?: boolean;
  /**
   * With `fill_cache: false`: read every block into one buffer this iterator owns, over the
   * previous block (default false). Only for one forward pass whose caller copies what it
   * keeps before moving on, as compaction does: a value from an earlier block is overwritten.
   * It saves an allocation (and later garbage) per block read.
   */
  reuse_block_buffer?: boolean;
}

/** The newest entry of a user key visible at a snapshot. */
export interface TableGetResult {
  /** Value or deletion (a tombstone hides older entries in older tables). */
  type: ValueType;
  /** Sequence number of the entry. */
  sequence: number;
  /** The value (empty for a deletion): a view into a cached block; do not modify it. */
  value: Uint8Array;
}

/**
 * An open table file.
 *
 * @example
 * ```ts
 * const reader = TableReader.open(fs, "db/000007.sst", 7, meta.size_bytes, cache);
 * const hit = reader.get(new TextEncoder().encode("k"), MAX_SEQUENCE);
 * if (hit?.type === ValueType.Value) use(hit.value);
 * reader.close();
 * ```
 */
export class TableReader {
  readonly #file: FileHandle;
  readonly #cache: BlockCache;
  readonly #index: Block;
  readonly #filter: Uint8Array | null;
  readonly #data_limit_offset: number;
  readonly #index_iterator: BlockIterator;
  #data_iterator: BlockIterator | null = null;
  readonly #lookup = new GrowableBuffer(64);
  readonly #handle: BlockHandle = { offset: 0, size_bytes: 0 };
  readonly #varint = new VarintReader();
  #open_iterators = 0;
  #close_requested = false;
  readonly #spare_block_iterators: BlockIterator[] = [];

  private constructor(
    readonly path: string,
    readonly file_number: number,
    readonly size_bytes: number,
    file: FileHandle,
    cache: BlockCache,
  ) {
    this.#file = file;
    this.#cache = cache;
    if (size_bytes < FOOTER_SIZE_BYTES) {
      throw new CorruptionError(
        path,
        0,
        `file of ${size_bytes} bytes is shorter than a table footer (${FOOTER_SIZE_BYTES} bytes)`,
      );
    }
    const footer_bytes = new Uint8Array(FOOTER_SIZE_BYTES);
    const footer_offset = size_bytes - FOOTER_SIZE_BYTES;
    if (file.readAt(footer_bytes, footer_offset) !== FOOTER_SIZE_BYTES) {
      throw new CorruptionError(path, footer_offset, "file shorter than its recorded size");
    }
    const footer = decodeFooter(footer_bytes, path, size_bytes);
    this.#index = new Block(readBlockContents(file, footer.index), path, footer.index.offset);
    this.#index_iterator = this.#index.iterator();
    const has_filter = footer.filter.size_bytes > 0;
    this.#filter = has_filter ? readBlockContents(file, footer.filter) : null;
    this.#data_limit_offset = has_filter ? footer.filter.offset : footer.index.offset;
  }

  /**
   * Opens a table, reading and verifying its footer, index and filter.
   * @param fs file system holding the table
   * @param path table file path
   * @param file_number the table's number (cache key)
   * @param size_bytes the table's size as recorded in the manifest
   * @param cache block cache shared by the database's readers
   * @throws CorruptionError naming `path` if any of those fails its checks
   */
  static open(
    fs: FileSystem,
    path: string,
    file_number: number,
    size_bytes: number,
    cache: BlockCache,
  ): TableReader {
    if (!Number.isSafeInteger(file_number) || file_number < 0) {
      throw new StorageError(`file_number must be a non-negative integer, got ${file_number}`);
    }
    if (!Number.isSafeInteger(size_bytes) || size_bytes < 0) {
      throw new StorageError(`size_bytes must be a non-negative integer, got ${size_bytes}`);
    }
    const file = fs.open(path, "read");
    try {
      return new TableReader(path, file_number, size_bytes, file, cache);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Bytes this reader keeps pinned in memory (index and filter blocks). */
  pinnedBytes(): number {
    return this.#index.size_bytes + (this.#filter?.length ?? 0);
  }

  /**
   * Whether the bloom filter admits `user_key` (true when the table has no filter).
   * False means the table certainly holds no entry for it.
   */
  mayContain(user_key: Uint8Array): boolean {
    return this.#filter === null || bloomMayContain(this.#filter, user_key, 0, user_key.length);
  }

  /**
   * The newest entry for `user_key` with sequence <= `snapshot_sequence`, or undefined if the
   * table has none. A deletion is returned as such: it hides older tables' entries.
   */
  get(user_key: Uint8Array, snapshot_sequence: number): TableGetResult | undefined {
    this.#assertOpen("get");
    if (
      !(snapshot_sequence >= 0 && snapshot_sequence <= MAX_SEQUENCE) ||
      !Number.isInteger(snapshot_sequence)
    ) {
      throw new StorageError(
        `snapshot_sequence must be an integer in 0..${MAX_SEQUENCE}, got ${snapshot_sequence}`,
      );
    }
    if (this.#filter !== null && !bloomMayContain(this.#filter, user_key, 0, user_key.length)) {
      return undefined;
    }
    const lookup = this.#lookup;
    lookup.clear();
    lookup.append(user_key);
    lookup.reserve(TRAILER_SIZE_BYTES);
    writeTrailer(lookup.bytes, lookup.length, snapshot_sequence, ValueType.Value);
    lookup.length += TRAILER_SIZE_BYTES;

    const index = this.#index_iterator;
    index.seekInPlace(lookup.bytes, lookup.length);
    if (!index.valid()) return undefined;
    const data = this.#positionDataIterator(index);
    data.seekInPlace(lookup.bytes, lookup.length);
    if (!data.valid()) {
      // The separator may equal the lookup key while the entry opens the next block.
      index.next();
      if (!index.valid()) return undefined;
      this.#positionDataIterator(index).seekToFirst();
      if (!data.valid()) return undefined;
    }
    const key = data.key_scratch.bytes;
    const user_end = data.key_length - TRAILER_SIZE_BYTES;
    if (compareByteRanges(key, 0, user_end, user_key, 0, user_key.length) !== 0) return undefined;
    const low = readUint32LE(key, user_end);
    const high = readUint32LE(key, user_end + 4);
    return {
      type: (low & 0xff) as ValueType,
      sequence: high * 2 ** 24 + (low >>> 8),
      value: data.block.data.subarray(data.value_offset, data.value_offset + data.value_length),
    };
  }

  /**
   * A new iterator over every entry; close it to let the reader close.
   * @param options `fill_cache: false` keeps blocks read by this iterator out of the cache
   *   (for compaction inputs and long scans, which would evict the blocks reads need)
   */
  iterator(options: TableIteratorOptions = {}): InternalIterator {
    this.#assertOpen("iterator");
    this.#open_iterators++;
    this.#cache.iteratorOpened();
    const fill_cache = options.fill_cache ?? true;
    return new TableIterator(
      this,
      this.blockIterator(this.#index),
      fill_cache,
      (index, data) => this.#iteratorClosed(index, data),
      !fill_cache && options.reuse_block_buffer === true,
    );
  }

  /** Closes the file (once every iterator from this reader is closed). */
  close(): void {
    if (this.#close_requested) return;
    this.#close_requested = true;
    if (this.#open_iterators === 0) this.#file.close();
  }

  /**
   * The data block an index entry points to, from the cache or read and verified from disk
   * (and then cached when `fill_cache`).
   * @internal used by the table iterator
   */
  dataBlockAt(
    index_entry: BlockIterator,
    fill_cache = true,
    buffer_for?: (size_bytes: number) => Uint8Array,
  ): Block {
    const handle = this.#handle;
    const value_end = index_entry.value_offset + index_entry.value_length;
    const index_data = index_entry.block.data;
    if (!decodeBlockHandle(index_data, index_entry.value_offset, value_end, this.#varint, handle)) {
      throw new CorruptionError(
        this.path,
        this.#index.file_offset + index_entry.value_offset,
        "bad block handle in index entry",
      );
    }
    const cached = this.#cache.get(this.file_number, handle.offset);
    if (cached !== undefined) return cached;
    checkHandle(
      handle,
      this.path,
      this.#index.file_offset + index_entry.value_offset,
      this.#data_limit_offset,
      "data",
    );
    const total_bytes = handle.size_bytes + BLOCK_TRAILER_SIZE_BYTES;
    const cache = this.#cache;
    const buffer = fill_cache
      ? cache.reserve(total_bytes)
      : buffer_for?.(total_bytes) ?? cache.transient(total_bytes);
    const contents = readBlockContentsInto(this.#file, handle, buffer);
    const block = new Block(contents, this.path, handle.offset);
    return fill_cache ? cache.insert(this.file_number, handle.offset, block) : block;
  }

  #positionDataIterator(index: BlockIterator): BlockIterator {
    const block = this.dataBlockAt(index);
    if (this.#data_iterator === null) this.#data_iterator = block.iterator();
    else this.#data_iterator.reset(block);
    return this.#data_iterator;
  }

  /**
   * An unpositioned iterator over `block`: a spare one when there is one.
   * @internal used by the table iterator
   */
  blockIterator(block: Block): BlockIterator {
    const spare = this.#spare_block_iterators.pop();
    if (spare === undefined) return block.iterator();
    spare.reset(block);
    return spare;
  }

  #iteratorClosed(index: BlockIterator, data: BlockIterator | null): void {
    const spares = this.#spare_block_iterators;
    if (spares.length < MAX_SPARE_BLOCK_ITERATORS) {
      index.reset(EMPTY_BLOCK);
      spares.push(index);
    }
    if (data !== null && spares.length < MAX_SPARE_BLOCK_ITERATORS) {
      data.reset(EMPTY_BLOCK);
      spares.push(data);
    }
    this.#open_iterators--;
    this.#cache.iteratorClosed();
    if (this.#close_requested && this.#open_iterators === 0) this.#file.close();
  }

  #assertOpen(operation: string): void {
    if (this.#close_requested) {
      throw new StorageError(`${this.path}: TableReader.${operation} after close`);
    }
  }
}

/** Two-level iterator: the index block chooses a data block, a block iterator walks it. */
class TableIterator implements InternalIterator {
  #data: BlockIterator | null = null;
  /** The data block iterator, kept while `#data` is null past the end, to give back at close. */
  #data_iterator: BlockIterator | null = null;
  #data_block_offset = -1;
  #closed = false;
  /** The one buffer blocks are read into, with `reuse_block_buffer`; grown as needed. */
  #own_buffer = new Uint8Array(0);
  readonly #buffer_for: ((size_bytes: number) => Uint8Array) | undefined;

  constructor(
    readonly reader: TableReader,
    readonly index: BlockIterator,
    readonly fill_cache: boolean,
    readonly on_close: (index: BlockIterator, data: BlockIterator | null) => void,
    reuse_block_buffer = false,
  ) {
    this.#buffer_for = reuse_block_buffer ? (size) => this.#ownBuffer(size) : undefined;
  }

  #ownBuffer(size_bytes: number): Uint8Array {
    if (this.#own_buffer.length < size_bytes) {
      this.#own_buffer = new Uint8Array(Math.max(size_bytes, 2 * this.#own_buffer.length));
    }
    return this.#own_buffer.subarray(0, size_bytes);
  }

  valid(): boolean {
    return this.#data !== null && this.#data.valid();
  }

  seekToFirst(): void {
    this.#assertOpen("seekToFirst");
    this.index.seekToFirst();
    this.#loadDataBlock()?.seekToFirst();
    this.#skipEmptyForward();
  }

  seekToLast(): void {
    this.#assertOpen("seekToLast");
    this.index.seekToLast();
    this.#loadDataBlock()?.seekToLast();
    this.#skipEmptyBackward();
  }

  seek(target: Uint8Array): void {
    this.#assertOpen("seek");
    this.index.seek(target);
    this.#loadDataBlock()?.seek(target);
    this.#skipEmptyForward();
  }

  next(): void {
    this.#assertValid("next");
    this.#data!.next();
    this.#skipEmptyForward();
  }

  prev(): void {
    this.#assertValid("prev");
    this.#data!.prev();
    this.#skipEmptyBackward();
  }

  key(): Uint8Array {
    this.#assertValid("key");
    return this.#data!.key();
  }

  value(): Uint8Array {
    this.#assertValid("value");
    return this.#data!.value();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#data = null;
    this.on_close(this.index, this.#data_iterator);
    this.#data_iterator = null;
  }

  /** Points the data iterator at the index entry's block (unpositioned); null past the end. */
  #loadDataBlock(): BlockIterator | null {
    if (!this.index.valid()) {
      this.#data = null;
      this.#data_block_offset = -1;
      return null;
    }
    const block = this.reader.dataBlockAt(this.index, this.fill_cache, this.#buffer_for);
    const data = this.#data_iterator;
    if (data === null) this.#data_iterator = this.reader.blockIterator(block);
    else if (
      this.#data === null || block.file_offset !== this.#data_block_offset || data.block !== block
    ) {
      data.reset(block);
    }
    this.#data = this.#data_iterator;
    this.#data_block_offset = block.file_offset;
    return this.#data;
  }

  #skipEmptyForward(): void {
    // Bounded by the number of index entries: each pass advances the index.
    while (this.#data !== null && !this.#data.valid()) {
      if (!this.index.valid()) {
        this.#data = null;
        return;
      }
      this.index.next();
      this.#loadDataBlock()?.seekToFirst();
    }
  }

  #skipEmptyBackward(): void {
    while (this.#data !== null && !this.#data.valid()) {
      if (!this.index.valid()) {
        this.#data = null;
        return;
      }
      this.index.prev();
      this.#loadDataBlock()?.seekToLast();
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw new StorageError(`${this.reader.path}: table iterator ${operation} after close`);
    }
  }

  #assertValid(operation: string): void {
    this.#assertOpen(operation);
    if (!this.valid()) {
      throw new StorageError(
        `${this.reader.path}: table iterator ${operation} while not positioned at an entry`,
      );
    }
  }
}
