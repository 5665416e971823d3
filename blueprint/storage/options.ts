/**
 * Options of a storage engine instance, their defaults, and their validation.
 *
 * Defaults keep one open database well under 256 MiB of memory: up to three memtables of
 * 4 MiB (the active one and up to two waiting for their flush; each arena may reserve up to
 * twice its `memtable_size_bytes`), a 32 MiB block cache, a 4 MiB cache in the background worker, and
 * one open reader per live table (index and bloom filter, about 1.5% of the table's size).
 *
 * @module
 */
import { type FileSystem, NodeFileSystem } from "../../shared/fs/mod.ts";
import { StorageError } from "./errors.ts";

/** Where flushes and compactions run. */
export type BackgroundMode =
  /** In a dedicated Web Worker over the SharedArrayBuffer channel (real disk only). */
  | "worker"
  /** In the calling isolate, between writes (any FileSystem; crash tests use this). */
  | "inline";

/**
 * Options accepted by `Storage.open`. Every field is optional; see {@link DEFAULT_OPTIONS}.
 *
 * @example
 * ```ts
 * const db = await Storage.open("/var/lib/draft/kv", { memtable_size_bytes: 8 << 20 });
 * ```
 */
export interface StorageOptions {
  /** File system to use; the real disk (`NodeFileSystem`) by default. Tests pass a FaultyFileSystem. */
  fs?: FileSystem;
  /**
   * Where flushes and compactions run: "worker" (default on the real disk) or "inline"
   * (default for any other FileSystem, since a worker cannot share an in-memory one).
   */
  background?: BackgroundMode;
  /** Size at which the active memtable becomes immutable and is flushed (default 4 MiB). */
  memtable_size_bytes?: number;
  /** Capacity of the shared block cache (default 32 MiB). */
  block_cache_bytes?: number;
  /** Largest key accepted (default 16 KiB, at most 1 MiB). Keys must also be non-empty. */
  max_key_bytes?: number;
  /** Largest value accepted (default 8 MiB, at most 32 MiB). */
  max_value_bytes?: number;
  /** Target size of one table file written by flush or compaction (default 2 MiB). */
  target_file_size_bytes?: number;
  /** Uncompressed size of one data block in a table (default 4096). */
  block_size_bytes?: number;
  /** Keys between restart points in a block (default 16). */
  restart_interval?: number;
  /** Bloom filter bits per key (default 10; 0 disables the filter). */
  bloom_bits_per_key?: number;
  /** Level-0 file count that triggers compaction of L0 into L1 (default 4). */
  l0_compaction_trigger?: number;
  /**
   * Level-0 file count at which each write is delayed (default 20, RocksDB's; LevelDB uses 8).
   * Room for more level-0 files lets writes go on while an L0 compaction runs instead of
   * stopping behind it, and lets one compaction take more L0 files per rewrite of level 1:
   * a 1,000,000-entry random fill on 2 cores ran about 30% faster than with 8 and 12.
   */
  l0_slowdown_trigger?: number;
  /** Level-0 file count at which writes wait for compaction (default 36, RocksDB's; LevelDB 12). */
  l0_stop_trigger?: number;
  /** Longest a single write waits in a stop stall before failing with StorageError (default 60 s). */
  max_stall_ms?: number;
  /**
   * Full memtables that may wait for their flush while writes continue into a new one
   * (default 2: while the background worker runs a long compaction, a second full memtable
   * keeps writes going instead of stalling them; measured on a 300k-entry fill, write stall
   * time fell from about 3.4 s to 0.5 s. Each costs up to memtable_size_bytes, twice that
   * in arena capacity).
   */
  max_immutable_memtables?: number;
  /** Size budget of level 1; each deeper level gets 10x more (default 10 MiB). */
  max_bytes_for_level_base?: number;
  /**
   * Parts a large compaction is split into, by key range, each run in its own background
   * worker (default 2, at most 4; 1 never splits). A compaction is split when its inputs hold
   * at least 4 x target_file_size_bytes. With writes stalled on level 0, the writer's idle
   * core merges too: measured on a 1,000,000-entry random fill on 2 cores, see the README.
   * Each worker costs an isolate (about 15 MiB, 25 after work) and a 4 MiB cache; workers
   * beyond the first start when a split compaction first finds every compaction worker busy,
   * and every worker stops after 1 s without a job (the next job starts it again).
   */
  max_subcompactions?: number;
  /**
   * Linux nice value of the compaction workers' threads (default 10; 0 keeps normal priority,
   * 19 is the lowest). On a machine with fewer cores than busy threads, a compaction at normal
   * priority takes CPU time from the writer's isolate (the thread that serves requests), and
   * compaction work only has to keep up on average: measured on a 1,000,000-entry random fill
   * on 2 cores, the writer's thread waited for a core 25% of the time at normal priority and
   * about 6% at nice 10, and the fill ran 15-20% faster. At 10 a compaction still gets about a
   * tenth of a contended core, so it is never starved outright. The flush worker always runs at
   * normal priority. Needs FFI permission (`-A`); without it the workers run at normal priority.
   */
  compaction_nice?: number;
}

/** Options with every default filled in. */
export type ResolvedOptions = Required<Omit<StorageOptions, "fs" | "background">> & {
  /** File system in use. */
  fs: FileSystem;
  /** Where background jobs run. */
  background: BackgroundMode;
};

/** Default values of the numeric options; see {@link StorageOptions} for what each means. */
export const DEFAULT_OPTIONS: Readonly<Omit<ResolvedOptions, "fs" | "background">> = {
  memtable_size_bytes: 4 << 20,
  block_cache_bytes: 32 << 20,
  max_key_bytes: 16 << 10,
  max_value_bytes: 8 << 20,
  target_file_size_bytes: 2 << 20,
  block_size_bytes: 4096,
  restart_interval: 16,
  bloom_bits_per_key: 10,
  l0_compaction_trigger: 4,
  l0_slowdown_trigger: 20,
  l0_stop_trigger: 36,
  max_stall_ms: 60_000,
  max_bytes_for_level_base: 10 << 20,
  max_immutable_memtables: 2,
  max_subcompactions: 2,
  compaction_nice: 10,
};

/** Allowed range of each numeric option (inclusive). */
const OPTION_RANGES: Record<keyof typeof DEFAULT_OPTIONS, [number, number]> = {
  memtable_size_bytes: [1 << 10, 1 << 30],
  // 16 GiB; written as a product because `16 << 30` overflows int32 to 0.
  block_cache_bytes: [0, 16 * 2 ** 30],
  max_key_bytes: [1, 1 << 20],
  // A value must fit one WAL record (64 MiB) with its key and batch header.
  max_value_bytes: [0, 32 << 20],
  target_file_size_bytes: [1 << 10, 1 << 30],
  block_size_bytes: [256, 1 << 20],
  restart_interval: [1, 1 << 10],
  bloom_bits_per_key: [0, 64],
  l0_compaction_trigger: [1, 1 << 10],
  l0_slowdown_trigger: [1, 1 << 10],
  l0_stop_trigger: [1, 1 << 10],
  max_stall_ms: [0, 24 * 3600_000],
  max_bytes_for_level_base: [1 << 10, 2 ** 40],
  max_immutable_memtables: [1, 8],
  max_subcompactions: [1, 4],
  compaction_nice: [0, 19],
};

/**
 * Fills defaults and validates. `default_fs` is used when `options.fs` is absent; the
 * background mode defaults to "worker" only for that default file system.
 *
 * @throws StorageError naming the bad option and its allowed range.
 */
export function resolveOptions(
  options: StorageOptions | undefined,
  default_fs: () => FileSystem,
): ResolvedOptions {
  const given = options ?? {};
  if (typeof given !== "object") {
    throw new StorageError(`options must be an object, got ${typeof given}`);
  }
  const resolved = { ...DEFAULT_OPTIONS } as Record<string, number>;
  for (const name of Object.keys(given)) {
    if (name === "fs" || name === "background") continue;
    if (!(name in OPTION_RANGES)) {
      const allowed = ["fs", "background", ...Object.keys(OPTION_RANGES)].join(", ");
      throw new StorageError(`unknown storage option "${name}"; allowed: ${allowed}`);
    }
    const value = (given as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const [min, max] = OPTION_RANGES[name as keyof typeof OPTION_RANGES];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new StorageError(
        `storage option ${name} must be an integer in [${min}, ${max}], got ${String(value)}`,
      );
    }
    resolved[name] = value;
  }
  const triggers = resolved as unknown as ResolvedOptions;
  if (
    !(triggers.l0_compaction_trigger <= triggers.l0_slowdown_trigger &&
      triggers.l0_slowdown_trigger <= triggers.l0_stop_trigger)
  ) {
    throw new StorageError(
      `storage options must satisfy l0_compaction_trigger <= l0_slowdown_trigger <= ` +
        `l0_stop_trigger, got ${triggers.l0_compaction_trigger}, ` +
        `${triggers.l0_slowdown_trigger}, ${triggers.l0_stop_trigger}`,
    );
  }
  const background = given.background ?? (given.fs === undefined ? "worker" : "inline");
  if (background !== "worker" && background !== "inline") {
    throw new StorageError(
      `storage option background must be "worker" or "inline", got ${String(background)}`,
    );
  }
  if (background === "worker" && given.fs !== undefined && !(given.fs instanceof NodeFileSystem)) {
    throw new StorageError(
      `storage option background "worker" needs the real disk (a Worker cannot share another ` +
        `FileSystem); pass background: "inline" with a custom fs`,
    );
  }
  return { ...triggers, fs: given.fs ?? default_fs(), background };
}
