/**
 * Tuning of the level-structured compaction: when to compact, how big levels may grow, how
 * large output files are, and when writes must slow down or stop. Defaults follow LevelDB.
 *
 * @module
 */
import { StorageError } from "../errors.ts";

/**
 * Options of compaction picking and writing. Every field is a plain number so that the
 * object can travel to the background worker as JSON.
 *
 * @example
 * ```ts
 * const options = resolveCompactionOptions({ target_file_size_bytes: 4 << 20 });
 * ```
 */
export interface CompactionOptions {
  /** Level-0 file count that makes L0 eligible for compaction (LevelDB: 4). */
  level0_compaction_trigger: number;
  /** Level-0 file count at which each write is delayed a little (RocksDB: 20, LevelDB: 8). */
  level0_slowdown_trigger: number;
  /** Level-0 file count at which writes wait for a compaction (RocksDB: 36, LevelDB: 12). */
  level0_stop_trigger: number;
  /** Size budget of level 1; level N>1 gets base * multiplier^(N-1) (LevelDB: 10 MiB). */
  max_bytes_for_level_base: number;
  /** Growth factor between consecutive levels (LevelDB: 10). */
  level_multiplier: number;
  /** Size at which a compaction output file is closed and the next one started (2 MiB). */
  target_file_size_bytes: number;
  /**
   * An output file is closed early once it overlaps this many bytes of the level below its
   * output level (the grandparents), so that a later compaction of it stays small
   * (LevelDB: 10 * target_file_size_bytes).
   */
  max_grandparent_overlap_bytes: number;
  /**
   * Largest total input a compaction may grow to when it pulls in more files of the
   * starting level without touching more of the next level (LevelDB: 25 * target).
   */
  expanded_compaction_limit_bytes: number;
  /** Delay applied to each write while L0 is between the slowdown and stop triggers (1). */
  slowdown_delay_ms: number;
}

const TARGET_FILE_SIZE_BYTES = 2 << 20;

/** LevelDB's defaults, but RocksDB's level-0 slowdown and stop triggers (see StorageOptions). */
export const DEFAULT_COMPACTION_OPTIONS: Readonly<CompactionOptions> = Object.freeze({
  level0_compaction_trigger: 4,
  level0_slowdown_trigger: 20,
  level0_stop_trigger: 36,
  max_bytes_for_level_base: 10 << 20,
  level_multiplier: 10,
  target_file_size_bytes: TARGET_FILE_SIZE_BYTES,
  max_grandparent_overlap_bytes: 10 * TARGET_FILE_SIZE_BYTES,
  expanded_compaction_limit_bytes: 25 * TARGET_FILE_SIZE_BYTES,
  slowdown_delay_ms: 1,
});

const RANGES: Record<keyof CompactionOptions, [number, number]> = {
  level0_compaction_trigger: [1, 1 << 10],
  level0_slowdown_trigger: [1, 1 << 10],
  level0_stop_trigger: [1, 1 << 10],
  max_bytes_for_level_base: [1 << 10, 2 ** 40],
  level_multiplier: [2, 1000],
  target_file_size_bytes: [1 << 10, 1 << 30],
  max_grandparent_overlap_bytes: [1 << 10, 2 ** 40],
  expanded_compaction_limit_bytes: [1 << 10, 2 ** 40],
  slowdown_delay_ms: [0, 1000],
};

/**
 * Fills defaults for absent fields and validates every field. When only
 * `target_file_size_bytes` is given, the two limits derived from it in LevelDB
 * (grandparent overlap 10x, expansion 25x) follow it.
 *
 * @throws StorageError naming the bad option and its allowed range, or the broken ordering of
 *   the level-0 triggers.
 */
export function resolveCompactionOptions(
  given: Partial<CompactionOptions> = {},
): CompactionOptions {
  const target = given.target_file_size_bytes ?? TARGET_FILE_SIZE_BYTES;
  const resolved: Record<string, number> = {
    ...DEFAULT_COMPACTION_OPTIONS,
    max_grandparent_overlap_bytes: 10 * target,
    expanded_compaction_limit_bytes: 25 * target,
  };
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!(name in RANGES)) {
      throw new StorageError(
        `unknown compaction option "${name}"; allowed: ${Object.keys(RANGES).join(", ")}`,
      );
    }
    const [min, max] = RANGES[name as keyof CompactionOptions];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new StorageError(
        `compaction option ${name} must be an integer in [${min}, ${max}], got ${String(value)}`,
      );
    }
    resolved[name] = value;
  }
  const options = resolved as unknown as CompactionOptions;
  if (
    !(options.level0_compaction_trigger <= options.level0_slowdown_trigger &&
      options.level0_slowdown_trigger <= options.level0_stop_trigger)
  ) {
    throw new StorageError(
      "compaction options must satisfy level0_compaction_trigger <= level0_slowdown_trigger" +
        ` <= level0_stop_trigger, got ${options.level0_compaction_trigger}, ` +
        `${options.level0_slowdown_trigger}, ${options.level0_stop_trigger}`,
    );
  }
  return options;
}

/** The size limits a compaction applies to its outputs. */
export type OutputLimits = Pick<
  CompactionOptions,
  "target_file_size_bytes" | "max_grandparent_overlap_bytes"
>;

/** Size budget of `level` (1 or more): base * multiplier^(level-1). Level 0 is counted in files. */
export function maxBytesForLevel(level: number, options: CompactionOptions): number {
  if (!Number.isInteger(level) || level < 1) {
    throw new StorageError(`maxBytesForLevel: level must be an integer >= 1, got ${level}`);
  }
  return options.max_bytes_for_level_base * options.level_multiplier ** (level - 1);
}
