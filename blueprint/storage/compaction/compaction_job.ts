/**
 * The two background jobs of the engine, as plain functions on any {@link FileSystem}: a
 * flush writes one level-0 table from a memtable; a compaction merges input tables into new
 * tables of the next level, dropping what no reader can see any more.
 *
 * @module
 */
import type { FileSystem } from "../../../shared/fs/mod.ts";
import { StorageError } from "../errors.ts";
import {
  compareByteRanges,
  compareInternalKeys,
  encodeInternalKey,
  MAX_SEQUENCE,
  sequenceOf,
  TRAILER_SIZE_BYTES,
  typeOf,
  ValueType,
} from "../internal_key.ts";
import type { InternalIterator } from "../iterator.ts";
import type { TableFileMeta } from "../manifest.ts";
import { MergingIterator } from "../merging_iterator.ts";
import { LevelIterator } from "../db_iterator.ts";
import {
  type BlockCache,
  TableBuilder,
  tableFileName,
  type TableOptions,
  TableReader,
} from "../table/mod.ts";
import { DEFAULT_COMPACTION_OPTIONS, type OutputLimits } from "./compaction_options.ts";
import type { CompactionJob } from "./background_executor.ts";
import { GrandparentOverlap } from "./grandparent_overlap.ts";

/** `DIR/NNNNNN.sst`: the path of table `file_number` in `dir`. */
export function tableFilePath(dir: string, file_number: number): string {
  if (!Number.isSafeInteger(file_number) || file_number < 0) {
    throw new StorageError(`table file number must be a non-negative integer, got ${file_number}`);
  }
  return `${dir}/${tableFileName(file_number)}`;
}

/**
 * Writes one table, entry by entry, for a flush whose entries may arrive in pieces (the
 * background worker receives them in chunks).
 *
 * @example
 * ```ts
 * const writer = new FlushWriter(fs, dir, 7, table_options);
 * writer.add(ikey, value);
 * const meta = await writer.finish();
 * ```
 */
export class FlushWriter {
  #builder: TableBuilder;
  #entry_count = 0;
  readonly #path: string;

  /**
   * @param fs where to write
   * @param dir the database directory
   * @param file_number number of the new table (allocated by the DB)
   * @param table_options block size, restart interval, bloom bits
   */
  constructor(
    private readonly fs: FileSystem,
    dir: string,
    file_number: number,
    table_options: TableOptions,
  ) {
    this.#path = tableFilePath(dir, file_number);
    this.#builder = new TableBuilder(fs, this.#path, table_options);
  }

  /** Adds the next entry; keys must increase in internal order (the builder asserts it). */
  add(internal_key: Uint8Array, value: Uint8Array): void {
    this.#builder.add(internal_key, value);
    this.#entry_count++;
  }

  /**
   * Adds the entry whose internal key is `bytes[key_offset, key_offset + key_length)` and
   * value `bytes[value_offset, value_offset + value_length)` (a memtable arena, walked in place).
   */
  addRange(
    bytes: Uint8Array,
    key_offset: number,
    key_length: number,
    value_offset: number,
    value_length: number,
  ): void {
    this.#builder.addRange(bytes, key_offset, key_length, bytes, value_offset, value_length);
    this.#entry_count++;
  }

  /** Finishes and syncs the table; an empty flush is a caller error (nothing to write). */
  async finish(): Promise<TableFileMeta> {
    if (this.#entry_count === 0) {
      this.abandon();
      throw new StorageError(`flush of ${this.#path}: no entries (never flush an empty memtable)`);
    }
    return await this.#builder.finish();
  }

  /** Drops the partly written table. */
  abandon(): void {
    this.#builder.abandon();
    this.fs.remove(this.#path);
  }
}

/**
 * Writes every entry of `entries` (a memtable's iterator; not closed here) as table
 * `file_number` of level 0, synced before the promise resolves.
 *
 * @throws StorageError when `entries` is empty.
 */
export async function runFlushJob(
  fs: FileSystem,
  dir: string,
  file_number: number,
  entries: InternalIterator,
  table_options: TableOptions,
): Promise<TableFileMeta> {
  const writer = new FlushWriter(fs, dir, file_number, table_options);
  try {
    for (entries.seekToFirst(); entries.valid(); entries.next()) {
      writer.add(entries.key(), entries.value());
    }
  } catch (err) {
    writer.abandon();
    throw err;
  }
  const meta = await writer.finish();
  await fs.syncDir(dir);
  return meta;
}

/**
 * Decides, entry by entry in merged order, which versions a compaction keeps: LevelDB's rule
 * in `DoCompactionWork`. Pure: no I/O, so the rule is tested on its own.
 */
export class VersionFilter {
  /** The current user key, copied into a reused buffer (no allocation per entry). */
  #current_user_key = new Uint8Array(64);
  /** Length of the current user key; -1 before the first entry. */
  #current_length = -1;
  #last_sequence_for_key = MAX_SEQUENCE + 1;

  /**
   * @param smallest_snapshot_sequence oldest sequence a reader may still read at
   * @param bottommost no deeper level holds keys of this compaction's range
   */
  constructor(
    readonly smallest_snapshot_sequence: number,
    readonly bottommost: boolean,
  ) {}

  /** Whether the entry with `internal_key` starts a new user key (call before {@link keep}). */
  isNewUserKey(internal_key: Uint8Array): boolean {
    // In place, without a view: this runs once per compacted entry.
    return this.#current_length < 0 ||
      compareByteRanges(
          internal_key,
          0,
          internal_key.length - TRAILER_SIZE_BYTES,
          this.#current_user_key,
          0,
          this.#current_length,
        ) !== 0;
  }

  /**
   * Whether to write the entry; entries must come in increasing internal order.
   * `new_user_key` may pass on the answer of {@link isNewUserKey} for this same entry.
   */
  keep(internal_key: Uint8Array, new_user_key = this.isNewUserKey(internal_key)): boolean {
    if (new_user_key) {
      this.#rememberUserKey(internal_key);
      this.#last_sequence_for_key = MAX_SEQUENCE + 1;
    }
    const sequence = sequenceOf(internal_key);
    let drop = false;
    if (this.#last_sequence_for_key <= this.smallest_snapshot_sequence) {
      // A newer version of this key is already visible to every reader: this one is hidden.
      drop = true;
    } else if (
      typeOf(internal_key) === ValueType.Deletion &&
      sequence <= this.smallest_snapshot_sequence && this.bottommost
    ) {
      // No reader needs the tombstone and nothing below it is left to hide.
      drop = true;
    }
    this.#last_sequence_for_key = sequence;
    return !drop;
  }

  #rememberUserKey(internal_key: Uint8Array): void {
    const length = internal_key.length - TRAILER_SIZE_BYTES;
    if (length > this.#current_user_key.length) {
      this.#current_user_key = new Uint8Array(Math.max(length, 2 * this.#current_user_key.length));
    }
    for (let i = 0; i < length; i++) this.#current_user_key[i] = internal_key[i];
    this.#current_length = length;
  }
}

/**
 * Runs a compaction: merges the plan's input tables, keeps what {@link VersionFilter} keeps,
 * and writes the result as tables of the output level, cut at `target_file_size_bytes` and
 * when an output overlaps more than `max_grandparent_overlap_bytes` of the grandparent level,
 * never between two versions of one user key. Every output is synced, and the directory
 * too, before the promise resolves. Input files are left in place (the DB removes them once
 * the new manifest is durable). Outputs are in key order; an empty array means everything
 * was dropped.
 */
export async function runCompactionJob(
  fs: FileSystem,
  dir: string,
  job: CompactionJob,
  table_options: TableOptions,
  cache: BlockCache,
  limits: OutputLimits = DEFAULT_COMPACTION_OPTIONS,
): Promise<TableFileMeta[]> {
  checkJob(job);
  const readers: TableReader[] = [];
  const children: InternalIterator[] = [];
  const writer = new OutputWriter(fs, dir, job.output_file_numbers, table_options);
  try {
    const open = (file: TableFileMeta): InternalIterator => {
      const reader = TableReader.open(
        fs,
        tableFilePath(dir, file.file_number),
        file.file_number,
        file.size_bytes,
        cache,
      );
      readers.push(reader);
      // Inputs are read once: caching their blocks would only evict blocks that reads need.
      // The merge copies each entry it keeps before moving on: one buffer per input will do.
      return reader.iterator({ fill_cache: false, reuse_block_buffer: true });
    };
    // Level 0's tables overlap: one child each. A deeper level's tables are sorted and
    // disjoint: one child for the level, opening its tables in turn. With random keys an L0
    // compaction takes every L1 table, so this cuts the merge's children from 20-30 to 5-10
    // (each step of the merge compares every child).
    if (job.plan.level === 0) { for (const file of job.plan.inputs) children.push(open(file)); }
    else if (job.plan.inputs.length > 0) {
      children.push(new LevelIterator(byKey(job.plan.inputs), open));
    }
    if (job.plan.next_inputs.length > 0) {
      children.push(new LevelIterator(byKey(job.plan.next_inputs), open));
    }
    const merged = new MergingIterator(children);
    children.length = 0; // the merging iterator owns them now
    try {
      await writeMerged(merged, job, writer, limits);
    } finally {
      merged.close();
    }
    const outputs = await writer.finishAll();
    await fs.syncDir(dir);
    return outputs;
  } catch (err) {
    writer.abandonAll();
    throw err;
  } finally {
    for (const child of children) child.close();
    for (const reader of readers) reader.close();
  }
}

async function writeMerged(
  merged: InternalIterator,
  job: CompactionJob,
  writer: OutputWriter,
  limits: OutputLimits,
): Promise<void> {
  const filter = new VersionFilter(job.smallest_snapshot_sequence, job.plan.bottommost);
  const overlap = new GrandparentOverlap(
    job.plan.grandparents,
    limits.max_grandparent_overlap_bytes,
  );
  const { start, end } = job.range ?? {};
  // The first entry of `start` sorts first among its versions: the newest sequence.
  if (start === undefined) merged.seekToFirst();
  else merged.seek(encodeInternalKey(start, MAX_SEQUENCE, ValueType.Value));
  for (; merged.valid(); merged.next()) {
    const key = merged.key();
    const new_user_key = filter.isNewUserKey(key);
    if (new_user_key) {
      const user_end = key.length - TRAILER_SIZE_BYTES;
      if (end !== undefined && compareByteRanges(key, 0, user_end, end, 0, end.length) >= 0) {
        break; // the next part starts here
      }
      // Cut only between user keys, so that no user key spans two files of a sorted level.
      const stop_for_overlap = overlap.shouldStopBefore(key);
      if (
        writer.open &&
        (stop_for_overlap || writer.currentSizeBytes() >= limits.target_file_size_bytes)
      ) {
        await writer.finishCurrent();
      }
    }
    if (filter.keep(key, new_user_key)) writer.add(key, merged.value());
  }
}

/** The sequence of output tables of one compaction. */
class OutputWriter {
  #builder: TableBuilder | null = null;
  #next_index = 0;
  readonly #outputs: TableFileMeta[] = [];
  readonly #started_paths: string[] = [];

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly file_numbers: readonly number[],
    private readonly table_options: TableOptions,
  ) {}

  get open(): boolean {
    return this.#builder !== null;
  }

  currentSizeBytes(): number {
    return this.#builder?.estimatedSizeBytes() ?? 0;
  }

  add(key: Uint8Array, value: Uint8Array): void {
    if (this.#builder === null) {
      if (this.#next_index >= this.file_numbers.length) {
        throw new StorageError(
          `compaction needs more than the ${this.file_numbers.length} pre-allocated output ` +
            `file numbers; allocate more (one per target_file_size_bytes of input, plus one)`,
        );
      }
      const path = tableFilePath(this.dir, this.file_numbers[this.#next_index++]);
      this.#started_paths.push(path);
      this.#builder = new TableBuilder(this.fs, path, this.table_options);
    }
    this.#builder.add(key, value);
  }

  async finishCurrent(): Promise<void> {
    const builder = this.#builder;
    if (builder === null) return;
    this.#builder = null;
    this.#outputs.push(await builder.finish());
  }

  async finishAll(): Promise<TableFileMeta[]> {
    await this.finishCurrent();
    return this.#outputs;
  }

  abandonAll(): void {
    this.#builder?.abandon();
    this.#builder = null;
    for (const path of this.#started_paths) this.fs.remove(path);
  }
}

function checkJob(job: CompactionJob): void {
  const { plan } = job;
  if (plan.inputs.length === 0) {
    throw new StorageError("compaction job has no input files in plan.inputs");
  }
  if (plan.output_level !== plan.level + 1) {
    throw new StorageError(
      `compaction output_level must be level + 1, got level ${plan.level} -> ${plan.output_level}`,
    );
  }
  if (
    !Number.isSafeInteger(job.smallest_snapshot_sequence) || job.smallest_snapshot_sequence < 0
  ) {
    throw new StorageError(
      `smallest_snapshot_sequence must be a non-negative integer, got ${job.smallest_snapshot_sequence}`,
    );
  }
  if (job.output_file_numbers.length === 0) {
    throw new StorageError("compaction job has no pre-allocated output_file_numbers");
  }
}

/** One level's tables in key order (a plan lists them so; sorting again costs nothing). */
function byKey(files: readonly TableFileMeta[]): TableFileMeta[] {
  return [...files].sort((a, b) => compareInternalKeys(a.smallest_key, b.smallest_key));
}
