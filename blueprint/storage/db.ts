/**
 * The storage engine: LevelDB's design on the pieces of this folder. Writes go to the WAL
 * and the memtable; a full memtable becomes immutable and is flushed to a level-0 table by
 * the background executor while writes continue into a new memtable and a new WAL;
 * compactions merge tables down the levels. A flush runs beside a running compaction (one of
 * each at a time), so a full memtable never waits behind a long compaction; their manifest
 * commits take turns, and each builds its version from the one current at its turn. Reads
 * are synchronous: memtable, immutable memtables, then the tables of the current version.
 *
 * Durability: a write with `sync: true` resolves only after its WAL bytes are on stable
 * storage (concurrent sync writes share one fdatasync through the WAL's group commit); the
 * durable state after any crash is a prefix of the write history.
 *
 * @module
 */
import { dirname } from "node:path";
import {
  type FileSystem,
  linkOrCopyFile,
  LockedError,
  NodeFileSystem,
} from "../../shared/fs/mod.ts";
import { type CheckpointInfo, checkpointManifestState, describeCheckpoint } from "./checkpoint.ts";
import { CorruptionError, StorageError } from "./errors.ts";
import {
  compareByteRanges,
  compareInternalKeys,
  MAX_SEQUENCE,
  TRAILER_SIZE_BYTES,
  ValueType,
} from "./internal_key.ts";
import type { InternalIterator } from "./iterator.ts";
import {
  emptyManifestState,
  type ManifestState,
  NUM_LEVELS,
  readManifest,
  type TableFileMeta,
  writeManifest,
} from "./manifest.ts";
import { MergingIterator } from "./merging_iterator.ts";
import { Memtable } from "./memtable.ts";
import { MAX_LOG_RECORD_BYTES, readLogRecords } from "./log_format.ts";
import { Wal } from "./wal.ts";
import { BlockCache, type TableOptions, TableReader } from "./table/mod.ts";
import {
  type BackgroundExecutor,
  type CompactionOptions,
  type CompactionPlan,
  InlineExecutor,
  pickCompaction,
  planForLevel,
  resolveCompactionOptions,
  SlowdownPacer,
  subcompactionRanges,
  WorkerExecutor,
  writeStall,
} from "./compaction/mod.ts";
import { type ResolvedOptions, resolveOptions, type StorageOptions } from "./options.ts";
import { decodeBatch, WriteBatch } from "./write_batch.ts";
import {
  intersectRanges,
  type KeyRange,
  LevelIterator,
  prefixRange,
  ScanIterator,
} from "./db_iterator.ts";
import { type TableHit, type Version, VersionSet } from "./version.ts";
import { ValuePool } from "./value_pool.ts";

/** Options of a write. */
export interface WriteOptions {
  /** Resolve only once the write is on stable storage (default false). */
  sync?: boolean;
}

/** Options of a point read. */
export interface ReadOptions {
  /** Read as of this snapshot (default: the latest state). */
  snapshot?: Snapshot;
}

/** Options of {@link Storage.scan}. Bounds combine: the scan covers their intersection. */
export interface ScanOptions {
  /** Smallest key included. */
  start?: Uint8Array;
  /** Smallest key excluded. */
  end?: Uint8Array;
  /** Only keys starting with these bytes. */
  prefix?: Uint8Array;
  /** Descending key order (default ascending). */
  reverse?: boolean;
  /** Most entries returned (default unbounded). */
  limit?: number;
  /** Read as of this snapshot (default: the state when scan() is called). */
  snapshot?: Snapshot;
  /**
   * Whether blocks this scan reads from disk enter the block cache (default true, as
   * LevelDB's `fill_cache`). A bulk scan with `false` leaves the cached working set of point
   * reads alone and reads each table through one buffer of its own.
   */
  fill_cache?: boolean;
}

/** Per-level figures in {@link StorageStats}. */
export interface LevelStats {
  /** Level number, 0 to 6. */
  level: number;
  /** Table files in the level. */
  files: number;
  /** Bytes of those files. */
  bytes: number;
}

/** A picture of the engine's shape and work, from {@link Storage.stats}. */
export interface StorageStats {
  /** Each level's file count and bytes. */
  levels: LevelStats[];
  /** Table files in all levels. */
  total_files: number;
  /** Bytes of all table files. */
  total_table_bytes: number;
  /** Approximate bytes held by the active memtable. */
  memtable_bytes: number;
  /** Approximate bytes held by the memtable being flushed (0 if none). */
  immutable_memtable_bytes: number;
  /** Sequence number of the newest write. */
  last_sequence: number;
  /**
   * Writes delayed a little because level 0 reached the slowdown trigger: each owes the
   * slowdown delay (1 ms), paid on average (a write sleeps when the slept time so far falls
   * short, since this runtime's timers fire no sooner than about 2.3 ms).
   */
  write_slowdowns: number;
  /** Writes that had to wait for a flush or compaction to finish. */
  write_stops: number;
  /** Total time writes spent delayed or waiting, in milliseconds. */
  write_stall_ms: number;
  /** Memtable flushes completed. */
  flushes: number;
  /** Compactions completed (trivial moves included). */
  compactions: number;
  /** Key-range parts run side by side, over all split compactions. */
  subcompactions: number;
  /** Block cache lookups that hit. */
  cache_hits: number;
  /** Block cache lookups that missed. */
  cache_misses: number;
  /** hits / (hits + misses), 0 before any lookup. */
  cache_hit_rate: number;
  /** Bytes charged in the block cache. */
  cache_bytes: number;
  /** Cache slabs made from a retired slab's buffer instead of a new allocation. */
  cache_slabs_recycled: number;
  /** Open snapshots. */
  snapshots: number;
  /** Versions alive (current plus those pinned by open scans). */
  live_versions: number;
}

/**
 * A consistent read point: reads through it see exactly the writes before it was taken.
 * Release it when done so compaction may drop the old versions it keeps alive.
 */
export class Snapshot {
  #released = false;

  /** @internal created by {@link Storage.snapshot} */
  constructor(readonly sequence: number, private readonly on_release: (s: Snapshot) => void) {}

  /** Whether {@link Snapshot.release} was called. */
  get released(): boolean {
    return this.#released;
  }

  /** Lets compaction drop the versions only this snapshot needed. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.on_release(this);
  }
}

const LOCK_FILE = "LOCK";
const MANIFEST_TMP = "MANIFEST.tmp";
/** Bounds the background loop per wake-up (each iteration does one flush or compaction). */
const MAX_JOBS_PER_RUN = 10_000;
/** Bounds how often one write re-checks for room before giving up. */
const MAX_ROOM_ATTEMPTS = 100_000;
/** Bounds forced full compaction (each round moves data at least one level down). */
const MAX_FORCED_ROUNDS = 10_000;
/** Continuation sequence of a log found empty: no later log with records continues it. */
const LOST_LOG_SEQUENCE = -1;
/** Bounds the writers queued behind a memtable switch or a stall. */
const MAX_QUEUED_WRITERS = 100_000;
/** Sleep time beyond their delays that slowed writes may carry over (see SlowdownPacer). */
const MAX_SLOWDOWN_CREDIT_MS = 10;
/** Block cache of the background worker (compaction inputs are read once, so it stays small). */
const WORKER_CACHE_BYTES = 4 << 20;
/** A compaction is split into parts when its inputs hold this many target-size tables. */
const SUBCOMPACTION_MIN_TARGET_FILES = 4;
/**
 * Ring capacity of each direction of each worker channel. Memtables reach the flush worker
 * as shared arenas, so the rings carry only requests, replies and the occasional streamed
 * flush (recovery, checkpoints) in 256 KiB chunks: 1 MiB keeps four chunks in flight and
 * saves 12 MiB of resident shared memory over the 4 MiB default (4 rings).
 */
const WORKER_RING_BYTES = 1 << 20;

/** `DIR/NNNNNN.ext`. */
function numberedPath(dir: string, file_number: number, extension: "log" | "sst"): string {
  return `${dir}/${String(file_number).padStart(6, "0")}.${extension}`;
}

/** Parses `NNNNNN.log` / `NNNNNN.sst`; undefined for other names. */
function parseFileName(name: string): { file_number: number; kind: "log" | "sst" } | undefined {
  const match = /^(\d+)\.(log|sst)$/.exec(name);
  if (match === null) return undefined;
  return { file_number: Number(match[1]), kind: match[2] as "log" | "sst" };
}

/** Compares the user-key part of the internal key `ikey` with the user key `user_key`. */
function compareUserKeyOf(ikey: Uint8Array, user_key: Uint8Array): number {
  return compareByteRanges(
    ikey,
    0,
    ikey.length - TRAILER_SIZE_BYTES,
    user_key,
    0,
    user_key.length,
  );
}

/** Whether a table's user-key range meets [range.start, range.end). */
function overlapsRange(meta: TableFileMeta, range: KeyRange): boolean {
  if (range.end !== undefined && compareUserKeyOf(meta.smallest_key, range.end) >= 0) {
    return false;
  }
  return range.start === undefined || compareUserKeyOf(meta.largest_key, range.start) >= 0;
}

/**
 * The tables of a sorted, non-overlapping level that meet `range`, found by binary search:
 * a seek opens one scan, and filtering every table of the level was a tenth of its cost.
 * Returns `files` itself when all of them meet the range.
 */
function levelFilesInRange(
  files: readonly TableFileMeta[],
  range: KeyRange,
): readonly TableFileMeta[] {
  let first = 0;
  if (range.start !== undefined) {
    const start = range.start;
    let high = files.length;
    while (first < high) {
      const mid = (first + high) >>> 1;
      if (compareUserKeyOf(files[mid].largest_key, start) < 0) first = mid + 1;
      else high = mid;
    }
  }
  let limit = files.length;
  if (range.end !== undefined) {
    const end = range.end;
    let low = first;
    while (low < limit) {
      const mid = (low + limit) >>> 1;
      if (compareUserKeyOf(files[mid].smallest_key, end) < 0) low = mid + 1;
      else limit = mid;
    }
  }
  return first === 0 && limit === files.length ? files : files.slice(first, limit);
}

function sortedLevel(files: TableFileMeta[]): TableFileMeta[] {
  return files.sort((a, b) => compareInternalKeys(a.smallest_key, b.smallest_key));
}

/** What a checkpoint copies, pinned in one synchronous step. */
interface CheckpointCapture {
  /** Last sequence number included. */
  sequence: number;
  /** Immutable memtables not yet in `version`, oldest first. */
  memtables: Memtable[];
  /** The pinned version; unref it when the checkpoint is written. */
  version: Version;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A durable, ordered key/value store on one directory.
 *
 * @example
 * ```ts
 * const db = await Storage.open("/var/lib/draft/kv");
 * await db.put(bytes("k"), bytes("v"), { sync: true });
 * db.get(bytes("k"));                        // bytes("v")
 * for (const { key, value } of db.scan({ prefix: bytes("k") })) use(key, value);
 * await db.close();
 * ```
 */
export class Storage {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #options: ResolvedOptions;
  readonly #compaction_options: CompactionOptions;
  readonly #table_options: TableOptions;
  readonly #lock: { release(): void };
  readonly #cache: BlockCache;
  #executor!: BackgroundExecutor;
  readonly #readers = new Map<number, TableReader>();
  readonly #snapshots = new Set<Snapshot>();
  #versions!: VersionSet;
  #mem = new Memtable();
  /**
   * Full memtables waiting for their flush, oldest first. Each records the WAL that holds
   * the writes after it: the new log_number once it is flushed.
   */
  #imms: { memtable: Memtable; next_log_number: number }[] = [];
  #wal!: Wal;
  /**
   * WALs retired by a memtable switch whose memtable is not flushed yet, oldest first. They
   * are synced only when a synced write needs them durable (a durable write never outlives
   * an earlier one), and closed once their memtable's table is committed.
   */
  #retired_wals: { wal: Wal; next_log_number: number }[] = [];
  #log_number = 0;
  #next_file_number = 1;
  #last_sequence = 0;
  #compact_pointers: (Uint8Array | null)[] = [];
  #closed = false;
  #background_error: Error | null = null;
  /** The running flush loop (one at a time, oldest memtable first), or null. */
  #flushing: Promise<void> | null = null;
  /** The running compaction loop or forced compaction (one at a time), or null. */
  #compacting: Promise<void> | null = null;
  /** Pays slowed writes' delays in sleeps the runtime's timers can do. */
  readonly #slowdown_pacer = new SlowdownPacer(MAX_SLOWDOWN_CREDIT_MS);
  /**
   * Serializes manifest commits. Flushes and compactions run concurrently; each builds its
   * new version from the current one inside this lock, after its own awaits, so that no
   * install overwrites another's change.
   */
  #commit_lock: Promise<void> = Promise.resolve();
  /** Resolvers woken whenever a background job finishes or fails. */
  #progress_waiters: (() => void)[] = [];
  /** Serializes the writers that must make room (memtable switch, stalls). */
  #room_lock: Promise<void> = Promise.resolve();
  #forced_flush = false;
  /** True while the memtable and WAL are being switched: writers queue behind it. */
  #switching = false;
  /** Writers waiting in #make_room. */
  #queued_writers = 0;
  /** Where `get` copies values from (one slab serves many reads). */
  readonly #value_pool = new ValuePool();
  /** Checkpoints being written; close() waits for them. */
  readonly #checkpoints = new Set<Promise<unknown>>();
  #stats = {
    write_slowdowns: 0,
    write_stops: 0,
    write_stall_ms: 0,
    flushes: 0,
    compactions: 0,
    subcompactions: 0,
  };

  private constructor(dir: string, options: ResolvedOptions, lock: { release(): void }) {
    this.#dir = dir;
    this.#options = options;
    this.#fs = options.fs;
    this.#lock = lock;
    this.#cache = new BlockCache(options.block_cache_bytes);
    this.#mem = new Memtable(undefined, options.memtable_size_bytes);
    this.#compaction_options = resolveCompactionOptions({
      level0_compaction_trigger: options.l0_compaction_trigger,
      level0_slowdown_trigger: options.l0_slowdown_trigger,
      level0_stop_trigger: options.l0_stop_trigger,
      target_file_size_bytes: options.target_file_size_bytes,
      max_bytes_for_level_base: options.max_bytes_for_level_base,
    });
    this.#table_options = {
      block_size_bytes: options.block_size_bytes,
      restart_interval: options.restart_interval,
      bloom_bits_per_key: options.bloom_bits_per_key,
    };
  }

  async #start_executor(): Promise<void> {
    if (this.#options.background === "inline") {
      this.#executor = new InlineExecutor(
        this.#fs,
        this.#table_options,
        this.#cache,
        this.#compaction_options,
      );
      return;
    }
    this.#executor = await WorkerExecutor.start({
      table_options: this.#table_options,
      cache_capacity_bytes: WORKER_CACHE_BYTES,
      ring_capacity_bytes: WORKER_RING_BYTES,
      limits: this.#compaction_options,
      compaction_workers: this.#options.max_subcompactions,
      compaction_nice: this.#options.compaction_nice,
    });
  }

  /**
   * Opens (creating if needed) the database in `dir`: locks it, reads the manifest, replays
   * the live WALs (a torn last record is dropped), flushes what they held, starts a new WAL
   * and records the new state.
   *
   * @throws StorageError "DIR is in use by another process" when another open holds it;
   *   StorageError for bad options; CorruptionError naming a damaged file.
   */
  static async open(dir: string, options?: StorageOptions): Promise<Storage> {
    if (typeof dir !== "string" || dir.length === 0) {
      throw new StorageError(
        `Storage.open: dir must be a non-empty path string, got ${String(dir)}`,
      );
    }
    const resolved = resolveOptions(options, () => new NodeFileSystem());
    resolved.fs.mkdir(dir);
    let lock;
    try {
      lock = resolved.fs.lock(`${dir}/${LOCK_FILE}`);
    } catch (err) {
      if (err instanceof LockedError) {
        throw new StorageError(`${dir} is in use by another process (or another open Storage)`);
      }
      throw err;
    }
    let db: Storage;
    try {
      db = new Storage(dir, resolved, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
    try {
      await db.#start_executor();
      await db.#recover();
    } catch (err) {
      await db.#abandon();
      throw err;
    }
    db.#schedule_background();
    return db;
  }

  /** Sets `key` to `value`. */
  async put(key: Uint8Array, value: Uint8Array, options?: WriteOptions): Promise<void> {
    await this.write(new WriteBatch().put(key, value), options);
  }

  /** Removes `key` (a no-op for a missing key, still recorded). */
  async delete(key: Uint8Array, options?: WriteOptions): Promise<void> {
    await this.write(new WriteBatch().delete(key), options);
  }

  /**
   * Applies every operation of `batch` atomically, with consecutive sequence numbers: after
   * a crash all or none are present; readers see all or none. Concurrent writes apply in
   * call order, and the state that survives a crash is a prefix of that order.
   *
   * @throws StorageError for a bad key or value (nothing is written), or after close.
   */
  async write(batch: WriteBatch, options: WriteOptions = {}): Promise<void> {
    this.#check_usable("write");
    if (!(batch instanceof WriteBatch)) {
      throw new StorageError(`write: batch must be a WriteBatch, got ${typeof batch}`);
    }
    const sync = this.#sync_option(options);
    this.#validate_batch(batch);
    if (batch.count === 0) return;
    if (this.#needs_room() || this.#queued_writers > 0) {
      // Writers that arrive while others wait queue behind them: writes apply in call order.
      if (this.#queued_writers >= MAX_QUEUED_WRITERS) {
        throw new StorageError(
          `write: ${MAX_QUEUED_WRITERS} writes are already waiting for room; await earlier ` +
            `writes before issuing more`,
        );
      }
      this.#queued_writers++;
      try {
        await this.#make_room();
      } finally {
        this.#queued_writers--;
      }
    }
    this.#check_usable("write");
    const first_sequence = this.#last_sequence + 1;
    if (first_sequence + batch.count - 1 > MAX_SEQUENCE) {
      throw new StorageError(`write: sequence numbers are exhausted (limit ${MAX_SEQUENCE})`);
    }
    // In place: the WAL copies the record into its own framing before append returns.
    const appended = this.#wal.append(batch.encodeInPlace(first_sequence), sync);
    // Requested in the same turn as the append, before a flush can close a retired log.
    const retired_synced = sync ? Promise.all(this.#retired_wals.map((r) => r.wal.sync())) : null;
    // Same synchronous turn as the append: readers never see part of a batch, and memtable
    // order equals WAL order.
    let sequence = first_sequence;
    const mem = this.#mem;
    batch.forEachRange((type, bytes, key_start, key_length, value_start, value_length) =>
      mem.addRange(sequence++, type, bytes, key_start, key_length, value_start, value_length)
    );
    this.#last_sequence = sequence - 1;
    try {
      await appended;
      await retired_synced;
    } catch (err) {
      this.#fail(err);
      throw err;
    }
  }

  /**
   * The value of `key`, or undefined when absent (or deleted), as of `options.snapshot` or
   * now. The bytes are the caller's own copy: a view that small values may share one
   * underlying buffer with, so write only within the view.
   *
   * @throws CorruptionError naming the file when a table read fails its checksum.
   */
  get(key: Uint8Array, options: ReadOptions = {}): Uint8Array | undefined {
    this.#check_usable("get", true);
    this.#validate_key(key, "get");
    const sequence = this.#read_sequence(options.snapshot, "get");
    // The previous get copied its value out: its blocks are no longer in use.
    this.#cache.safePoint();
    const hit = this.#mem.get(key, sequence) ?? this.#get_from_immutables(key, sequence) ??
      this.#versions.current.get(
        key,
        sequence,
        (meta, user_key, snapshot_sequence) => this.#reader(meta).get(user_key, snapshot_sequence),
      );
    if (hit === undefined || hit.type === ValueType.Deletion) return undefined;
    return this.#value_pool.copy(hit.value);
  }

  /**
   * The live entries in key order (descending with `reverse`) within the given bounds, as of
   * `options.snapshot` or the moment of this call; later writes are not seen. The iterator
   * pins the tables it reads: finish it (or `return()` it, which `break` in for-of does).
   *
   * @throws StorageError for bad options (at once, not at the first step).
   */
  scan(options: ScanOptions = {}): ScanIterator {
    this.#check_usable("scan", true);
    const range = this.#scan_range(options);
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && (!Number.isInteger(limit) || limit < 0)) {
      throw new StorageError(`scan: limit must be a non-negative integer, got ${String(limit)}`);
    }
    const sequence = this.#read_sequence(options.snapshot, "scan");
    // Scans copy what they yield, so with no iterator open no cached block is in use: let the
    // cache recycle retired slabs here too (short scans, such as seeks, would otherwise leave
    // every retired slab to the garbage collector).
    this.#cache.safePoint();
    const version = this.#versions.current.ref();
    let source: InternalIterator;
    try {
      source = this.#merged_iterator(version, range, options.fill_cache ?? true);
    } catch (err) {
      version.unref();
      throw err;
    }
    return new ScanIterator(
      source,
      sequence,
      range,
      options.reverse === true,
      limit,
      () => version.unref(),
    );
  }

  /** Captures the current state for consistent reads; release it when done. */
  snapshot(): Snapshot {
    this.#check_usable("snapshot", true);
    const snapshot = new Snapshot(this.#last_sequence, (s) => this.#snapshots.delete(s));
    this.#snapshots.add(snapshot);
    return snapshot;
  }

  /** Forces the memtable into a level-0 table now; resolves when it is recorded. */
  async flush(): Promise<void> {
    this.#check_usable("flush");
    if (this.#mem.entryCount === 0 && this.#imms.length === 0) return;
    this.#forced_flush = true;
    await this.#make_room();
    await this.#wait_background_idle();
    this.#throw_background_error();
  }

  /**
   * Flushes, then compacts every level into the next until all data sits in one level:
   * shadowed versions and tombstones not needed by a snapshot are dropped.
   */
  async compactRange(): Promise<void> {
    await this.flush();
    const rewritten = new Set<number>();
    for (let round = 0; round < MAX_FORCED_ROUNDS; round++) {
      this.#check_usable("compactRange");
      const done = await this.#run_exclusive(async () => {
        const plan = this.#forced_plan(rewritten);
        if (plan === null) return true;
        await this.#apply_compaction({ ...plan, trivial_move: false });
        rewritten.add(plan.output_level);
        return false;
      });
      if (done) return;
    }
    throw new StorageError(`compactRange did not converge within ${MAX_FORCED_ROUNDS} rounds`);
  }

  /**
   * Writes a checkpoint of the current state into the new directory `dir` on the same file
   * system, and resolves with its description. Live tables are hard-linked (copied where the
   * file system cannot link); the memtables are written as one more level-0 table; a fresh
   * MANIFEST describing exactly those files, with no live WAL, is written and synced, and so
   * is the directory. Writes go on meanwhile and are simply not in the checkpoint. Files it
   * links stay valid after the source compacts them away (a link is a second name).
   *
   * This engine keeps its whole state in MANIFEST (replaced atomically), so there is no
   * CURRENT file. On failure `dir` may be left with some files but no MANIFEST: remove it
   * before retrying (opened as is, it would be an empty store).
   *
   * @throws StorageError when `dir` is not a non-empty path, already exists, or the store is
   *   closed; the file system's error when a write fails.
   * @example
   * ```ts
   * const info = await db.checkpoint("/var/lib/draft/snapshots/42");
   * const copy = await Storage.open(info.dir); // exactly the writes up to info.sequence
   * ```
   */
  async checkpoint(dir: string): Promise<CheckpointInfo> {
    this.#check_usable("checkpoint");
    if (typeof dir !== "string" || dir.length === 0) {
      throw new StorageError(
        `checkpoint: dir must be a non-empty path string, got ${String(dir)}`,
      );
    }
    if (this.#fs.exists(dir)) {
      throw new StorageError(
        `checkpoint: ${dir} already exists; a checkpoint needs a directory that does not ` +
          `exist yet (remove it or choose another path)`,
      );
    }
    const written = this.#capture_checkpoint().then(async (captured) => {
      try {
        return await this.#write_checkpoint(dir, captured);
      } finally {
        captured.version.unref();
      }
    });
    this.#checkpoints.add(written);
    try {
      return await written;
    } finally {
      this.#checkpoints.delete(written);
    }
  }

  /** Levels, file counts and bytes, stall counts and time, cache hit rate. */
  stats(): StorageStats {
    const levels = this.#versions.current.levels.map((files, level) => ({
      level,
      files: files.length,
      bytes: files.reduce((sum, f) => sum + f.size_bytes, 0),
    }));
    const lookups = this.#cache.hits + this.#cache.misses;
    return {
      levels,
      total_files: levels.reduce((sum, l) => sum + l.files, 0),
      total_table_bytes: levels.reduce((sum, l) => sum + l.bytes, 0),
      memtable_bytes: this.#mem.sizeBytes,
      immutable_memtable_bytes: this.#imms.reduce((sum, imm) => sum + imm.memtable.sizeBytes, 0),
      last_sequence: this.#last_sequence,
      ...this.#stats,
      cache_hits: this.#cache.hits,
      cache_misses: this.#cache.misses,
      cache_hit_rate: lookups === 0 ? 0 : this.#cache.hits / lookups,
      cache_bytes: this.#cache.usageBytes(),
      cache_slabs_recycled: this.#cache.recycled,
      snapshots: this.#snapshots.size,
      live_versions: this.#versions.liveVersionCount,
    };
  }

  /**
   * Waits for running background work, closes files and releases the directory. Unsynced
   * writes are in the WAL's file but not guaranteed durable. Later calls throw StorageError.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#room_lock.catch(() => {});
    await this.#wait_background_idle();
    await this.#commit_lock;
    await Promise.allSettled([...this.#checkpoints]);
    for (const retired of this.#retired_wals.splice(0)) {
      await retired.wal.close().catch(() => {});
    }
    await this.#abandon();
  }

  // ---- write path -------------------------------------------------------------------

  #needs_room(): boolean {
    return this.#switching || this.#mem.sizeBytes >= this.#options.memtable_size_bytes ||
      this.#versions.current.levels[0].length >= this.#options.l0_slowdown_trigger;
  }

  /** Runs `make_room_locked` behind the room lock so only one writer switches memtables. */
  #make_room(): Promise<void> {
    const run = this.#room_lock.then(() => this.#make_room_locked());
    this.#room_lock = run.catch(() => {});
    return run;
  }

  async #make_room_locked(): Promise<void> {
    let slowed = false;
    for (let attempt = 0; attempt < MAX_ROOM_ATTEMPTS; attempt++) {
      this.#check_usable("write");
      const stall = writeStall(this.#versions.current.levels[0].length, this.#compaction_options);
      if (stall !== "stop" && stall.delay_ms > 0 && !slowed) {
        // LevelDB's softer limit: delay each write a little instead of stopping later.
        slowed = true;
        this.#stats.write_slowdowns++;
        const sleep_ms = this.#slowdown_pacer.owe(stall.delay_ms);
        if (sleep_ms > 0) {
          const started_ms = performance.now();
          await this.#timed_stall(sleep(sleep_ms));
          this.#slowdown_pacer.paid(performance.now() - started_ms);
        }
      } else if (stall === "stop") {
        this.#stats.write_stops++;
        await this.#timed_stall(this.#wait_progress());
      } else if (!this.#forced_flush && this.#mem.sizeBytes < this.#options.memtable_size_bytes) {
        return;
      } else if (this.#imms.length >= this.#options.max_immutable_memtables) {
        this.#stats.write_stops++;
        await this.#timed_stall(this.#wait_progress());
      } else {
        this.#forced_flush = false;
        if (this.#mem.entryCount > 0) await this.#switch_memtable();
        return;
      }
    }
    throw new StorageError(`write could not make room after ${MAX_ROOM_ATTEMPTS} attempts`);
  }

  async #timed_stall(wait: Promise<void>): Promise<void> {
    const started_ms = performance.now();
    await wait;
    this.#stats.write_stall_ms += performance.now() - started_ms;
  }

  /** Resolves when a background job finishes or fails, or after max_stall_ms (then throws). */
  #wait_progress(): Promise<void> {
    this.#schedule_background();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#progress_waiters = this.#progress_waiters.filter((w) => w !== wake);
        reject(
          new StorageError(
            `write stalled for more than max_stall_ms (${this.#options.max_stall_ms} ms) ` +
              `waiting for background flush or compaction`,
          ),
        );
      }, this.#options.max_stall_ms);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#progress_waiters.push(wake);
    });
  }

  /**
   * Makes the active memtable immutable and starts a new WAL. The old WAL is not synced at
   * the switch, so writers do not wait for an fdatasync they did not ask for (once its
   * memtable's table is committed, it is deleted unsynced). Durable state stays a prefix of
   * the write history because (1) a synced write is acknowledged only after the retired
   * WALs are synced too, and (2) the new WAL
   * opens with an empty batch naming its first sequence, and recovery stops at the first log
   * that does not continue the previous one (the old WAL lost its unsynced tail while pages
   * of the new one reached the disk). The new WAL's directory entry becomes durable with its
   * first sync, before any synced write in it is acknowledged.
   */
  async #switch_memtable(): Promise<void> {
    this.#switching = true;
    try {
      this.#switch_memtable_now();
      await Promise.resolve();
    } finally {
      this.#switching = false;
    }
  }

  /** The switch itself, in one synchronous step (a checkpoint captures right after it). */
  #switch_memtable_now(): void {
    const old_wal = this.#wal;
    const wal_number = this.#next_file_number++;
    const wal = Wal.create(this.#fs, numberedPath(this.#dir, wal_number, "log"));
    // Unsynced: the header matters only with records after it, which come later in the file.
    void wal.append(new WriteBatch().encode(this.#last_sequence + 1), false);
    this.#imms.push({ memtable: this.#mem, next_log_number: wal_number });
    this.#mem = new Memtable(wal_number, this.#options.memtable_size_bytes);
    this.#wal = wal;
    this.#retired_wals.push({ wal: old_wal, next_log_number: wal_number });
    this.#schedule_background();
  }

  // ---- checkpoint -------------------------------------------------------------------

  /**
   * Behind the room lock (no other switch in between), waits for room for one more
   * immutable memtable, then in one synchronous step makes the active memtable immutable
   * and pins what the checkpoint copies: the current version (its tables cannot be deleted
   * while pinned) and every memtable not yet in it. Together they hold exactly the writes up
   * to the last sequence; later writes go to the new memtable.
   */
  #capture_checkpoint(): Promise<CheckpointCapture> {
    const run = this.#room_lock.then(async () => {
      for (let attempt = 0; this.#imms.length >= this.#options.max_immutable_memtables; attempt++) {
        this.#check_usable("checkpoint");
        if (attempt >= MAX_ROOM_ATTEMPTS) {
          throw new StorageError(`checkpoint found no room after ${MAX_ROOM_ATTEMPTS} attempts`);
        }
        await this.#wait_progress();
      }
      this.#check_usable("checkpoint");
      if (this.#mem.entryCount > 0) this.#switch_memtable_now();
      return {
        sequence: this.#last_sequence,
        memtables: this.#imms.map((imm) => imm.memtable),
        version: this.#versions.current.ref(),
      };
    });
    this.#room_lock = run.then(() => {}, () => {});
    return run;
  }

  async #write_checkpoint(dir: string, captured: CheckpointCapture): Promise<CheckpointInfo> {
    this.#fs.mkdir(dir);
    for (const meta of captured.version.files()) {
      await linkOrCopyFile(
        this.#fs,
        numberedPath(this.#dir, meta.file_number, "sst"),
        numberedPath(dir, meta.file_number, "sst"),
      );
    }
    let memtable_table: TableFileMeta | null = null;
    const memtables = captured.memtables.filter((memtable) => memtable.entryCount > 0);
    if (memtables.length > 0) {
      // Numbered from the source's counter: above every table of the version, and unique.
      const file_number = this.#next_file_number++;
      const entries = memtables.length === 1
        ? memtables[0].iterator()
        : new MergingIterator(memtables.map((memtable) => memtable.iterator()));
      try {
        memtable_table = await this.#executor.flush(dir, file_number, entries);
      } finally {
        entries.close();
      }
    }
    const state = checkpointManifestState(
      captured.version.levels,
      memtable_table,
      captured.sequence,
      this.#next_file_number,
      this.#compact_pointers,
    );
    // Syncs the checkpoint directory too, after the links and copies are in it.
    await writeManifest(this.#fs, dir, state);
    await this.#fs.syncDir(dirname(dir));
    return describeCheckpoint(this.#fs, dir, captured.sequence);
  }

  // ---- background -------------------------------------------------------------------

  /**
   * Starts the flush loop when a memtable waits for its flush, and the compaction loop when
   * one is due: the two run concurrently (a flush never waits behind a long compaction).
   */
  #schedule_background(): void {
    if (this.#closed || this.#background_error !== null) return;
    if (this.#flushing === null && this.#imms.length > 0) {
      this.#flushing = this.#run_flushes().finally(() => {
        this.#flushing = null;
        this.#wake_waiters();
        this.#schedule_background();
      });
    }
    if (this.#compacting === null && this.#pick_compaction() !== null) {
      this.#compacting = this.#run_compactions().finally(() => {
        this.#compacting = null;
        this.#wake_waiters();
        this.#schedule_background();
      });
    }
  }

  async #run_flushes(): Promise<void> {
    try {
      for (let job = 0; job < MAX_JOBS_PER_RUN && !this.#closed; job++) {
        if (this.#imms.length === 0 || this.#background_error !== null) return;
        await this.#flush_immutable();
        this.#wake_waiters();
        // A new level-0 table may make a compaction due.
        this.#schedule_background();
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  async #run_compactions(): Promise<void> {
    try {
      for (let job = 0; job < MAX_JOBS_PER_RUN && !this.#closed; job++) {
        if (this.#background_error !== null) return;
        const plan = this.#pick_compaction();
        if (plan === null) return;
        await this.#apply_compaction(plan);
        this.#wake_waiters();
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * Runs `job` when no compaction is running, with background compactions held off (flushes
   * go on: they only add level-0 tables, and every install rebuilds from the current state).
   */
  async #run_exclusive<T>(job: () => Promise<T>): Promise<T> {
    // Check and claim in one synchronous step, so no compaction starts in between.
    for (let i = 0; i < MAX_JOBS_PER_RUN && this.#compacting !== null; i++) {
      await this.#compacting;
    }
    if (this.#compacting !== null) throw new StorageError("background work did not settle");
    const run = job();
    this.#compacting = run.then(() => {}, (err) => this.#fail(err)).finally(() => {
      this.#compacting = null;
      this.#wake_waiters();
    });
    await this.#compacting;
    this.#throw_background_error();
    this.#schedule_background();
    return await run;
  }

  /** Waits until neither a flush nor a compaction runs. */
  async #wait_background_idle(): Promise<void> {
    for (
      let i = 0;
      i < MAX_JOBS_PER_RUN && (this.#flushing !== null || this.#compacting !== null);
      i++
    ) {
      await Promise.allSettled([this.#flushing, this.#compacting]);
    }
  }

  #wake_waiters(): void {
    const waiters = this.#progress_waiters;
    this.#progress_waiters = [];
    for (const wake of waiters) wake();
  }

  #pick_compaction(): CompactionPlan | null {
    return pickCompaction(this.#manifest_state(), this.#compaction_options);
  }

  async #flush_immutable(): Promise<void> {
    const imm = this.#imms[0];
    let table: TableFileMeta | null = null;
    if (imm.memtable.entryCount > 0) {
      const file_number = this.#next_file_number++;
      table = await this.#executor.flushMemtable(this.#dir, file_number, imm.memtable);
    }
    await this.#commit((levels) => {
      if (table !== null) levels[0].push(table);
    }, imm.next_log_number);
    // The memtable leaves the read path in the same synchronous step as its table enters it
    // (#commit installed the version just before resolving, with no await in between).
    if (this.#imms[0] !== imm) throw new Error("flush: the flushed memtable is no longer oldest");
    this.#imms.shift();
    this.#stats.flushes++;
    while (
      this.#retired_wals.length > 0 &&
      this.#retired_wals[0].next_log_number <= imm.next_log_number
    ) {
      await this.#retired_wals.shift()!.wal.close();
    }
    this.#remove_logs_below(imm.next_log_number);
  }

  async #apply_compaction(plan: CompactionPlan): Promise<void> {
    const inputs = new Set([...plan.inputs, ...plan.next_inputs].map((f) => f.file_number));
    let outputs: TableFileMeta[];
    if (plan.trivial_move) outputs = plan.inputs;
    else outputs = await this.#compact_in_parts(plan);
    // Applied to the version current at commit time: a flush may have added level-0 tables
    // while the compaction ran, and they must stay.
    await this.#commit((levels) => {
      for (const level of [plan.level, plan.output_level]) {
        const present = levels[level].filter((f) => inputs.has(f.file_number)).length;
        const expected = level === plan.level ? plan.inputs.length : plan.next_inputs.length;
        if (present !== expected) {
          throw new Error(
            `compaction: ${expected - present} input table(s) of level ${level} vanished ` +
              `while it ran`,
          );
        }
      }
      levels[plan.level] = levels[plan.level].filter((f) => !inputs.has(f.file_number));
      levels[plan.output_level] = sortedLevel([
        ...levels[plan.output_level].filter((f) => !inputs.has(f.file_number)),
        ...outputs,
      ]);
      this.#compact_pointers[plan.level] = plan.compact_pointer;
    });
    this.#stats.compactions++;
  }

  /**
   * Runs `plan` as one job or, when it is large, as key-range parts side by side (one per
   * background worker); the outputs of the parts, in key order, are the compaction's.
   */
  async #compact_in_parts(plan: CompactionPlan): Promise<TableFileMeta[]> {
    const min_bytes = SUBCOMPACTION_MIN_TARGET_FILES *
      this.#compaction_options.target_file_size_bytes;
    const ranges = subcompactionRanges(plan, this.#options.max_subcompactions, min_bytes);
    const smallest_snapshot_sequence = this.#smallest_snapshot();
    const parts = await Promise.allSettled(ranges.map((range) =>
      this.#executor.compact(this.#dir, {
        plan,
        smallest_snapshot_sequence,
        output_file_numbers: this.#allocate_outputs(plan),
        ...(ranges.length > 1 ? { range } : {}),
      })
    ));
    // Every part has finished before a failure is reported: none still writes files then.
    const failed = parts.find((part) => part.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    if (ranges.length > 1) this.#stats.subcompactions += ranges.length;
    return parts.flatMap((part) => (part as PromiseFulfilledResult<TableFileMeta[]>).value);
  }

  #allocate_outputs(plan: CompactionPlan): number[] {
    const input_bytes = [...plan.inputs, ...plan.next_inputs].reduce((s, f) => s + f.size_bytes, 0);
    const count = Math.ceil(input_bytes / this.#compaction_options.target_file_size_bytes) + 2 +
      plan.grandparents.length;
    return Array.from({ length: count }, () => this.#next_file_number++);
  }

  /**
   * Writes the manifest for the current levels changed by `edit`, then makes them the
   * current version. Commits run one at a time, and each reads the current version only
   * inside its turn: an edit built from levels copied before an await would drop the
   * changes other jobs installed meanwhile (a flushed table lost, a compacted one revived).
   *
   * @param log_number the WAL number to record (default: the current one)
   */
  #commit(edit: (levels: TableFileMeta[][]) => void, log_number?: number): Promise<void> {
    const run = this.#commit_lock.then(async () => {
      const levels = this.#levels_copy();
      edit(levels);
      const state: ManifestState = {
        next_file_number: this.#next_file_number,
        last_sequence: this.#last_sequence,
        log_number: log_number ?? this.#log_number,
        levels,
        compact_pointers: [...this.#compact_pointers],
      };
      await writeManifest(this.#fs, this.#dir, state);
      this.#log_number = state.log_number;
      this.#versions.install(levels);
    });
    this.#commit_lock = run.catch(() => {});
    return run;
  }

  /**
   * Next step of a forced full compaction: compact the shallowest non-empty level down,
   * until all data sits in one level that this compaction wrote (so every entry was merged
   * once with nothing below it, dropping shadowed versions and unneeded tombstones).
   */
  #forced_plan(rewritten: Set<number>): CompactionPlan | null {
    const levels = this.#versions.current.levels;
    const non_empty = levels.flatMap((files, level) => (files.length > 0 ? [level] : []));
    if (non_empty.length === 0) return null;
    const shallowest = non_empty[0];
    const last_level = NUM_LEVELS - 1;
    if (non_empty.length === 1 && (rewritten.has(shallowest) || shallowest === last_level)) {
      return null;
    }
    return planForLevel(this.#manifest_state(), shallowest, this.#compaction_options);
  }

  #smallest_snapshot(): number {
    let smallest = this.#last_sequence;
    for (const snapshot of this.#snapshots) smallest = Math.min(smallest, snapshot.sequence);
    return smallest;
  }

  #fail(err: unknown): void {
    if (this.#background_error === null) {
      this.#background_error = err instanceof Error ? err : new Error(String(err));
    }
    this.#wake_waiters();
  }

  #throw_background_error(): void {
    const err = this.#background_error;
    if (err === null) return;
    if (err instanceof CorruptionError) throw err;
    throw new StorageError(`storage at ${this.#dir} failed in the background: ${err.message}`);
  }

  // ---- read path --------------------------------------------------------------------

  /** Looks in the memtables waiting for flush, newest first. */
  #get_from_immutables(key: Uint8Array, sequence: number): TableHit | undefined {
    for (let i = this.#imms.length - 1; i >= 0; i--) {
      const hit = this.#imms[i].memtable.get(key, sequence);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  #reader(meta: TableFileMeta): TableReader {
    let reader = this.#readers.get(meta.file_number);
    if (reader === undefined) {
      reader = TableReader.open(
        this.#fs,
        numberedPath(this.#dir, meta.file_number, "sst"),
        meta.file_number,
        meta.size_bytes,
        this.#cache,
      );
      this.#readers.set(meta.file_number, reader);
    }
    return reader;
  }

  #merged_iterator(version: Version, range: KeyRange, fill_cache: boolean): InternalIterator {
    const children: InternalIterator[] = [this.#mem.iterator()];
    for (const imm of this.#imms) children.push(imm.memtable.iterator());
    // Without filling the cache, each table iterator reads through a buffer of its own,
    // reused block after block: the scan copies every entry it yields, and the merge only
    // looks at each child's current entry.
    const table_options = { fill_cache, reuse_block_buffer: !fill_cache };
    const open = (meta: TableFileMeta) => this.#reader(meta).iterator(table_options);
    try {
      for (const meta of version.levels[0]) {
        if (overlapsRange(meta, range)) children.push(open(meta));
      }
      for (let level = 1; level < NUM_LEVELS; level++) {
        const files = levelFilesInRange(version.levels[level], range);
        if (files.length === 0) continue;
        children.push(new LevelIterator(files, open));
      }
    } catch (err) {
      for (const child of children) child.close();
      throw err;
    }
    return new MergingIterator(children);
  }

  #on_obsolete_table(file_number: number): void {
    this.#readers.get(file_number)?.close();
    this.#readers.delete(file_number);
    this.#cache.evictFile(file_number);
    // A failed remove leaves garbage that the next open deletes; never fail a read for it.
    try {
      this.#fs.remove(numberedPath(this.#dir, file_number, "sst"));
    } catch { /* removed at next open */ }
  }

  // ---- recovery ---------------------------------------------------------------------

  async #recover(): Promise<void> {
    const state = readManifest(this.#fs, this.#dir) ?? emptyManifestState();
    this.#versions = new VersionSet(state.levels, (n) => this.#on_obsolete_table(n));
    this.#compact_pointers = [...state.compact_pointers];
    this.#last_sequence = state.last_sequence;
    this.#log_number = state.log_number;
    const names = this.#fs.list(this.#dir);
    const files = names.map(parseFileName).filter((f) => f !== undefined);
    this.#check_tables_present(state, new Set(names));
    this.#next_file_number = Math.max(
      state.next_file_number,
      ...files.map((f) => f.file_number + 1),
    );
    const logs = files.filter((f) => f.kind === "log" && f.file_number >= state.log_number)
      .map((f) => f.file_number).sort((a, b) => a - b);
    const recovered: TableFileMeta[] = [];
    let next_sequence: number | null = null;
    for (const log_number of logs) {
      const replayed = await this.#replay_log(log_number, next_sequence, recovered);
      if (replayed === "gap") break;
      next_sequence = replayed;
    }
    if (this.#mem.entryCount > 0) recovered.push(await this.#flush_recovered());
    const wal_number = this.#next_file_number++;
    this.#wal = Wal.create(this.#fs, numberedPath(this.#dir, wal_number, "log"));
    await this.#commit((levels) => levels[0].push(...recovered), wal_number);
    this.#delete_garbage(names);
  }

  /** A table the manifest lists but the directory lacks means lost data: refuse to open. */
  #check_tables_present(state: ManifestState, names: Set<string>): void {
    for (const meta of state.levels.flat()) {
      const path = numberedPath(this.#dir, meta.file_number, "sst");
      if (!names.has(path.slice(this.#dir.length + 1))) {
        throw new CorruptionError(
          `${this.#dir}/MANIFEST`,
          0,
          `lists table ${path}, which is missing from the directory`,
        );
      }
    }
  }

  /**
   * Replays one log into the memtable. `expected_sequence` is the sequence the previous log
   * ended before (null for the first log, which continues the tables). A log started by a
   * memtable switch opens with an empty batch naming its first sequence; when that does not
   * continue the previous log (the older log lost unsynced writes in the crash, or a log is
   * empty although a newer one follows), this and all newer logs are dropped: what survives
   * must be a prefix of the writes.
   *
   * @returns the sequence the next log must start at, or "gap" to stop replaying
   */
  async #replay_log(
    log_number: number,
    expected_sequence: number | null,
    level0: TableFileMeta[],
  ): Promise<number | null | "gap"> {
    const path = numberedPath(this.#dir, log_number, "log");
    const { records } = readLogRecords(this.#fs, path);
    // Only a log with writes is ever followed by a newer one: an empty one lost them.
    if (records.length === 0) return expected_sequence === null ? LOST_LOG_SEQUENCE : "gap";
    let next_sequence = expected_sequence;
    for (const [index, record] of records.entries()) {
      const { first_sequence, entries } = decodeBatch(record, path);
      if (index === 0 && expected_sequence !== null && first_sequence !== expected_sequence) {
        return "gap";
      }
      next_sequence = first_sequence + entries.length;
      let sequence = first_sequence;
      for (const entry of entries) this.#mem.add(sequence++, entry.type, entry.key, entry.value);
      this.#last_sequence = Math.max(this.#last_sequence, sequence - 1);
      if (this.#mem.sizeBytes >= this.#options.memtable_size_bytes) {
        level0.push(await this.#flush_recovered());
      }
    }
    return next_sequence;
  }

  async #flush_recovered(): Promise<TableFileMeta> {
    const file_number = this.#next_file_number++;
    const meta = await this.#executor.flush(this.#dir, file_number, this.#mem.iterator());
    this.#mem = new Memtable(undefined, this.#options.memtable_size_bytes);
    return meta;
  }

  /** Removes what no manifest references: old WALs, unreferenced tables, a stale MANIFEST.tmp. */
  #delete_garbage(names: string[]): void {
    for (const name of names) {
      const file = parseFileName(name);
      const stale = name === MANIFEST_TMP ||
        (file?.kind === "log" && file.file_number < this.#log_number) ||
        (file?.kind === "sst" && !this.#versions.isLive(file.file_number));
      if (stale) this.#fs.remove(`${this.#dir}/${name}`);
    }
  }

  #remove_logs_below(log_number: number): void {
    for (const name of this.#fs.list(this.#dir)) {
      const file = parseFileName(name);
      if (file?.kind === "log" && file.file_number < log_number) {
        this.#fs.remove(`${this.#dir}/${name}`);
      }
    }
  }

  // ---- helpers ----------------------------------------------------------------------

  #manifest_state(): ManifestState {
    return {
      next_file_number: this.#next_file_number,
      last_sequence: this.#last_sequence,
      log_number: this.#log_number,
      levels: this.#levels_copy(),
      compact_pointers: [...this.#compact_pointers],
    };
  }

  #levels_copy(): TableFileMeta[][] {
    return this.#versions.current.levels.map((files) => [...files]);
  }

  /** Releases everything, each step even if an earlier one failed; rethrows the first failure. */
  async #abandon(): Promise<void> {
    this.#closed = true;
    this.#wake_waiters();
    const failures: unknown[] = [];
    const attempt = async (step: () => unknown) => {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    };
    await attempt(() => this.#wal?.close());
    await attempt(() => this.#executor?.close());
    for (const reader of this.#readers.values()) await attempt(() => reader.close());
    this.#readers.clear();
    await attempt(() => this.#lock.release());
    if (failures.length > 0) throw failures[0];
  }

  /** Throws after close; writes (not reads) also fail once background work has failed. */
  #check_usable(operation: string, reading = false): void {
    if (this.#closed) {
      throw new StorageError(
        `${operation}: storage at ${this.#dir} is closed; no reads or writes are allowed after close()`,
      );
    }
    if (!reading) this.#throw_background_error();
  }

  #sync_option(options: WriteOptions): boolean {
    if (options === null || typeof options !== "object") {
      throw new StorageError(
        `write options must be an object like { sync: true }, got ${String(options)}`,
      );
    }
    if (options.sync !== undefined && typeof options.sync !== "boolean") {
      throw new StorageError(
        `write option sync must be true or false, got ${String(options.sync)}`,
      );
    }
    return options.sync === true;
  }

  #validate_key(key: unknown, operation: string): asserts key is Uint8Array {
    if (!(key instanceof Uint8Array)) {
      throw new StorageError(`${operation}: key must be a Uint8Array, got ${typeof key}`);
    }
    if (key.length === 0) {
      throw new StorageError(
        `${operation}: key must not be empty (allowed: 1 to ${this.#options.max_key_bytes} bytes)`,
      );
    }
    if (key.length > this.#options.max_key_bytes) {
      throw new StorageError(
        `${operation}: key of ${key.length} bytes is longer than max_key_bytes ` +
          `(${this.#options.max_key_bytes})`,
      );
    }
  }

  #validate_batch(batch: WriteBatch): void {
    if (batch.sizeBytes > MAX_LOG_RECORD_BYTES) {
      throw new StorageError(
        `write: a batch of ${batch.sizeBytes} bytes is larger than the largest WAL record ` +
          `(${MAX_LOG_RECORD_BYTES} bytes); split it into smaller batches`,
      );
    }
    const within_limits = batch.minKeyBytes > 0 &&
      batch.maxKeyBytes <= this.#options.max_key_bytes &&
      batch.maxValueBytes <= this.#options.max_value_bytes;
    // The batch tracks its extreme lengths; only a batch that breaks a limit is walked, to
    // name the operation that does.
    if (within_limits) return;
    batch.forEach((type, key, value) => {
      this.#validate_key(key, type === ValueType.Value ? "put" : "delete");
      if (value.length > this.#options.max_value_bytes) {
        throw new StorageError(
          `put: value of ${value.length} bytes is longer than max_value_bytes ` +
            `(${this.#options.max_value_bytes})`,
        );
      }
    });
  }

  #read_sequence(snapshot: Snapshot | undefined, operation: string): number {
    if (snapshot === undefined) return this.#last_sequence;
    if (!(snapshot instanceof Snapshot) || !this.#snapshots.has(snapshot)) {
      throw new StorageError(
        `${operation}: snapshot must be a live snapshot of this storage (from snapshot(), ` +
          `not yet released)`,
      );
    }
    return snapshot.sequence;
  }

  #scan_range(options: ScanOptions): KeyRange {
    if (options === null || typeof options !== "object") {
      throw new StorageError(`scan options must be an object, got ${String(options)}`);
    }
    for (const name of ["start", "end", "prefix"] as const) {
      const bound = options[name];
      if (bound !== undefined && !(bound instanceof Uint8Array)) {
        throw new StorageError(`scan: ${name} must be a Uint8Array, got ${typeof bound}`);
      }
    }
    const bounds: KeyRange = { start: options.start, end: options.end };
    return options.prefix === undefined
      ? bounds
      : intersectRanges(bounds, prefixRange(options.prefix));
  }
}
