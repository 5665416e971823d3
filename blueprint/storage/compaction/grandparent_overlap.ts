/**
 * Cutting compaction outputs by how much of the grandparent level they overlap.
 *
 * @module
 */
import { compareInternalKeys } from "../internal_key.ts";
import type { TableFileMeta } from "../manifest.ts";

/**
 * Tracks, as a compaction writes keys in order, how many bytes of the grandparent level
 * (output level + 1) the current output file overlaps, as LevelDB's
 * `Compaction::ShouldStopBefore`. An output that overlaps too much would make its own later
 * compaction rewrite too much of the level below.
 *
 * @example
 * ```ts
 * const overlap = new GrandparentOverlap(plan.grandparents, 20 << 20);
 * if (overlap.shouldStopBefore(ikey) && builder !== null) finishOutput();
 * ```
 */
export class GrandparentOverlap {
  #index = 0;
  #seen_key = false;
  #overlapped_bytes = 0;

  /**
   * @param grandparents files of the grandparent level, sorted by key and non-overlapping
   * @param max_overlap_bytes overlap at which the current output should be closed
   */
  constructor(
    readonly grandparents: readonly TableFileMeta[],
    readonly max_overlap_bytes: number,
  ) {}

  /**
   * Advances past the grandparents that end before `internal_key` and answers whether the
   * output being written should be closed before `internal_key` is added. Keys must come in
   * increasing internal order. Once it answers true, the count restarts for the next output.
   */
  shouldStopBefore(internal_key: Uint8Array): boolean {
    while (
      this.#index < this.grandparents.length &&
      compareInternalKeys(internal_key, this.grandparents[this.#index].largest_key) > 0
    ) {
      if (this.#seen_key) this.#overlapped_bytes += this.grandparents[this.#index].size_bytes;
      this.#index++;
    }
    this.#seen_key = true;
    if (this.#overlapped_bytes > this.max_overlap_bytes) {
      this.#overlapped_bytes = 0;
      return true;
    }
    return false;
  }
}
