/**
 * Splitting one compaction into key ranges that run side by side (RocksDB's subcompactions).
 *
 * With random keys, a level-0 compaction merges every level-0 table with every level-1 table:
 * the largest job there is, and while it runs writes stall on level 0. One worker merges at
 * one core's speed; the parts of a split job run in separate workers, so a stalled writer's
 * idle core merges too. Pure: the DB runs the parts and installs their outputs as one edit.
 *
 * @module
 */
import { compareInternalKeys, userKeyOf } from "../internal_key.ts";
import type { TableFileMeta } from "../manifest.ts";
import type { CompactionPlan } from "./compaction_picker.ts";

/** The user keys one part of a compaction covers: `[start, end)`; absent ends are open. */
export interface KeyRange {
  /** First user key of the part (inclusive); absent: from the first key. */
  readonly start?: Uint8Array;
  /** User key where the part stops (exclusive); absent: to the last key. */
  readonly end?: Uint8Array;
}

/**
 * Up to `max_parts` ranges that split `plan` between user keys, cut at boundaries of its
 * output-level input tables (disjoint and sorted, so each range holds whole tables of that
 * level and about equal bytes). One open range (no split) when the plan is smaller than
 * `min_bytes`, when there is no such boundary, or when `max_parts` is 1.
 *
 * @example
 * ```ts
 * const ranges = subcompactionRanges(plan, 2, 8 << 20); // [{ end: k }, { start: k }]
 * ```
 */
export function subcompactionRanges(
  plan: CompactionPlan,
  max_parts: number,
  min_bytes: number,
): KeyRange[] {
  const boundaries = [...plan.next_inputs].sort((a, b) =>
    compareInternalKeys(a.smallest_key, b.smallest_key)
  );
  const level_bytes = bytesOf(boundaries);
  const total = bytesOf(plan.inputs) + level_bytes;
  if (max_parts <= 1 || total < min_bytes || boundaries.length < 2 || plan.trivial_move) {
    return [{}];
  }
  // Cut before table i (its smallest user key starts the next range) once the tables before
  // it hold the next share of the output level's bytes.
  const cuts: Uint8Array[] = [];
  let before = 0;
  for (let i = 1; i < boundaries.length && cuts.length < max_parts - 1; i++) {
    before += boundaries[i - 1].size_bytes;
    if (before * max_parts >= level_bytes * (cuts.length + 1)) {
      cuts.push(userKeyOf(boundaries[i].smallest_key));
    }
  }
  if (cuts.length === 0) return [{}];
  const ranges: KeyRange[] = [{ end: cuts[0] }];
  for (let i = 1; i < cuts.length; i++) ranges.push({ start: cuts[i - 1], end: cuts[i] });
  ranges.push({ start: cuts[cuts.length - 1] });
  return ranges;
}

function bytesOf(files: readonly TableFileMeta[]): number {
  return files.reduce((sum, file) => sum + file.size_bytes, 0);
}
