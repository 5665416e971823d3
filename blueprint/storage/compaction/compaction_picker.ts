/**
 * Choosing the next compaction: a pure function of the manifest state, as LevelDB's
 * `VersionSet::PickCompaction` (size-triggered compactions only; no seek-triggered ones).
 *
 * Level 0 is scored by file count (every L0 file may overlap every other, so reads pay per
 * file); levels 1 and up by bytes against a budget that grows tenfold per level. The level
 * with the highest score >= 1 is compacted into the next level. Within a level the files are
 * taken round-robin after the level's `compact_pointers` entry, so the whole key space is
 * rewritten evenly.
 *
 * @module
 */
import { compareBytes, compareInternalKeys, userKeyOf } from "../internal_key.ts";
import { type ManifestState, NUM_LEVELS, type TableFileMeta } from "../manifest.ts";
import { type CompactionOptions, maxBytesForLevel } from "./compaction_options.ts";

/**
 * One compaction to run: `inputs` of `level` merged with the overlapping `next_inputs` of
 * `output_level` (= level + 1), written as new files of `output_level`.
 */
export interface CompactionPlan {
  /** The level being compacted (0 .. NUM_LEVELS - 2). */
  level: number;
  /** Files of `level` taken as input (L0: in file-number order). */
  inputs: TableFileMeta[];
  /** Files of `output_level` whose key ranges overlap the inputs. */
  next_inputs: TableFileMeta[];
  /** Level the outputs go to: always `level + 1`. */
  output_level: number;
  /**
   * True when no level below `output_level` holds any key in the compaction's range, so a
   * tombstone not needed by a snapshot can be dropped instead of carried down.
   */
  bottommost: boolean;
  /**
   * Files of `output_level + 1` overlapping the compaction's range: outputs are cut so that
   * none overlaps too many of them (`max_grandparent_overlap_bytes`).
   */
  grandparents: TableFileMeta[];
  /** Largest internal key of the inputs: the new `compact_pointers[level]` once applied. */
  compact_pointer: Uint8Array;
  /**
   * True when the single input file can simply move to `output_level` without rewriting
   * (nothing to merge with, little grandparent overlap). The DB may then edit the manifest
   * instead of running a job.
   */
  trivial_move: boolean;
}

/** Per-level scores: a level with score >= 1 needs compaction. Exposed for stats and tests. */
export function compactionScores(state: ManifestState, options: CompactionOptions): number[] {
  const scores: number[] = [];
  for (let level = 0; level < NUM_LEVELS - 1; level++) {
    const files = state.levels[level] ?? [];
    scores.push(
      level === 0
        ? files.length / options.level0_compaction_trigger
        : totalBytes(files) / maxBytesForLevel(level, options),
    );
  }
  return scores;
}

/**
 * Returns the most needed compaction, or null when every level is within its budget.
 *
 * @example
 * ```ts
 * const plan = pickCompaction(state, DEFAULT_COMPACTION_OPTIONS);
 * if (plan !== null) await executor.compact(dir, { plan, smallest_snapshot_sequence, output_file_numbers });
 * ```
 */
export function pickCompaction(
  state: ManifestState,
  options: CompactionOptions,
): CompactionPlan | null {
  const scores = compactionScores(state, options);
  let level = -1;
  let best_score = 1;
  for (let candidate = 0; candidate < scores.length; candidate++) {
    if (scores[candidate] >= best_score) {
      level = candidate;
      best_score = scores[candidate];
    }
  }
  if (level < 0) return null;
  return planForLevel(state, level, options);
}

/**
 * Builds the plan that compacts `level`, starting after its compact pointer. Exposed so a
 * manual compaction (or a test) can force a level.
 */
export function planForLevel(
  state: ManifestState,
  level: number,
  options: CompactionOptions,
): CompactionPlan | null {
  if (!Number.isInteger(level) || level < 0 || level >= NUM_LEVELS - 1) {
    throw new RangeError(
      `compaction level must be an integer in 0..${NUM_LEVELS - 2}, got ${level}`,
    );
  }
  const files = state.levels[level] ?? [];
  if (files.length === 0) return null;
  let inputs = [firstFileAfterPointer(files, state.compact_pointers[level] ?? null)];
  if (level === 0) {
    // L0 files overlap each other: an older version of a key left behind in L0 would be
    // shadowed wrongly once a newer one sits in L1, so take every file that overlaps.
    const [smallest, largest] = userKeyRange(inputs);
    inputs = overlappingFiles(files, smallest, largest, true);
  }
  return completePlan(state, level, inputs, options);
}

function completePlan(
  state: ManifestState,
  level: number,
  first_inputs: TableFileMeta[],
  options: CompactionOptions,
): CompactionPlan {
  const output_level = level + 1;
  const level_files = state.levels[level] ?? [];
  const next_files = state.levels[output_level] ?? [];
  let inputs = addBoundaryInputs(level_files, first_inputs);
  let [smallest, largest] = userKeyRange(inputs);
  let next_inputs = addBoundaryInputs(
    next_files,
    overlappingFiles(next_files, smallest, largest, false),
  );
  // Grow the inputs of `level` when that pulls in no more files of the next level: the same
  // rewrite then retires more of `level` for free.
  if (next_inputs.length > 0) {
    const [all_smallest, all_largest] = userKeyRange([...inputs, ...next_inputs]);
    const expanded = addBoundaryInputs(
      level_files,
      overlappingFiles(level_files, all_smallest, all_largest, level === 0),
    );
    if (
      expanded.length > inputs.length &&
      totalBytes(expanded) + totalBytes(next_inputs) < options.expanded_compaction_limit_bytes
    ) {
      const [new_smallest, new_largest] = userKeyRange(expanded);
      const expanded_next = addBoundaryInputs(
        next_files,
        overlappingFiles(next_files, new_smallest, new_largest, false),
      );
      if (expanded_next.length === next_inputs.length) {
        inputs = expanded;
        next_inputs = expanded_next;
        [smallest, largest] = [new_smallest, new_largest];
      }
    }
  }
  const [all_smallest, all_largest] = userKeyRange([...inputs, ...next_inputs]);
  const grandparents = output_level + 1 < NUM_LEVELS
    ? overlappingFiles(state.levels[output_level + 1] ?? [], all_smallest, all_largest, false)
    : [];
  const trivial_move = inputs.length === 1 && next_inputs.length === 0 &&
    totalBytes(grandparents) <= options.max_grandparent_overlap_bytes;
  return {
    level,
    inputs,
    next_inputs,
    output_level,
    bottommost: isBottommost(state, output_level, all_smallest, all_largest),
    grandparents,
    compact_pointer: largestInternalKey(inputs),
    trivial_move,
  };
}

function isBottommost(
  state: ManifestState,
  output_level: number,
  smallest_user_key: Uint8Array,
  largest_user_key: Uint8Array,
): boolean {
  for (let deeper = output_level + 1; deeper < NUM_LEVELS; deeper++) {
    const files = state.levels[deeper] ?? [];
    if (overlappingFiles(files, smallest_user_key, largest_user_key, false).length > 0) {
      return false;
    }
  }
  return true;
}

function firstFileAfterPointer(
  files: TableFileMeta[],
  pointer: Uint8Array | null,
): TableFileMeta {
  if (pointer !== null) {
    for (const file of files) {
      if (compareInternalKeys(file.largest_key, pointer) > 0) return file;
    }
  }
  return files[0]; // wrap around to the start of the key space
}

/**
 * Files whose user-key range intersects [smallest, largest], in their level order. With
 * `expand` (level 0, where files overlap), the range widens to each hit file's range until no
 * more files join, as LevelDB's GetOverlappingInputs.
 */
export function overlappingFiles(
  files: TableFileMeta[],
  smallest_user_key: Uint8Array,
  largest_user_key: Uint8Array,
  expand: boolean,
): TableFileMeta[] {
  let low = smallest_user_key;
  let high = largest_user_key;
  // Each restart widens the range by at least one file, so files.length + 1 passes suffice.
  for (let pass = 0; pass <= files.length; pass++) {
    const hits: TableFileMeta[] = [];
    let widened = false;
    for (const file of files) {
      const file_low = userKeyOf(file.smallest_key);
      const file_high = userKeyOf(file.largest_key);
      if (compareBytes(file_high, low) < 0 || compareBytes(file_low, high) > 0) continue;
      hits.push(file);
      if (expand && compareBytes(file_low, low) < 0) [low, widened] = [file_low, true];
      if (expand && compareBytes(file_high, high) > 0) [high, widened] = [file_high, true];
    }
    if (!widened) return hits;
  }
  throw new Error("overlappingFiles: range kept widening beyond the number of files");
}

/**
 * Adds files of a sorted level whose smallest user key equals the largest user key of the
 * chosen files (LevelDB's AddBoundaryInputs): otherwise a newer version of that user key
 * would move down while an older one stays above it, and reads would return the older.
 */
function addBoundaryInputs(
  level_files: TableFileMeta[],
  chosen: TableFileMeta[],
): TableFileMeta[] {
  if (chosen.length === 0) return chosen;
  const result = [...chosen];
  // Each pass adds one file, so a level's file count bounds the loop.
  for (let pass = 0; pass < level_files.length; pass++) {
    const largest = largestInternalKey(result);
    const largest_user = userKeyOf(largest);
    let boundary: TableFileMeta | undefined;
    for (const file of level_files) {
      if (result.includes(file)) continue;
      if (
        compareInternalKeys(file.smallest_key, largest) > 0 &&
        compareBytes(userKeyOf(file.smallest_key), largest_user) === 0 &&
        (boundary === undefined ||
          compareInternalKeys(file.smallest_key, boundary.smallest_key) < 0)
      ) {
        boundary = file;
      }
    }
    if (boundary === undefined) break;
    result.push(boundary);
  }
  return result;
}

/** Smallest and largest user keys covered by `files` (non-empty). */
function userKeyRange(files: TableFileMeta[]): [Uint8Array, Uint8Array] {
  let smallest = files[0].smallest_key;
  let largest = files[0].largest_key;
  for (const file of files) {
    if (compareInternalKeys(file.smallest_key, smallest) < 0) smallest = file.smallest_key;
    if (compareInternalKeys(file.largest_key, largest) > 0) largest = file.largest_key;
  }
  return [userKeyOf(smallest), userKeyOf(largest)];
}

function largestInternalKey(files: TableFileMeta[]): Uint8Array {
  let largest = files[0].largest_key;
  for (const file of files) {
    if (compareInternalKeys(file.largest_key, largest) > 0) largest = file.largest_key;
  }
  return largest;
}

/** Sum of the files' sizes in bytes. */
export function totalBytes(files: TableFileMeta[]): number {
  let sum = 0;
  for (const file of files) sum += file.size_bytes;
  return sum;
}
