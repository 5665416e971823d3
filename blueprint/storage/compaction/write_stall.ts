/**
 * Back-pressure on writers when level 0 grows faster than compaction drains it.
 *
 * @module
 */
import { StorageError } from "../errors.ts";
import type { CompactionOptions } from "./compaction_options.ts";

/** What a write must do before it may proceed: wait `delay_ms` (0 = go), or wait for compaction. */
export type WriteStall = { delay_ms: number } | "stop";

/**
 * Decides, from the level-0 file count alone, whether a write goes at once, is delayed a
 * little (spreading the slowdown over many writes instead of one long stop, as LevelDB does),
 * or must wait until compaction removes level-0 files.
 *
 * @example
 * ```ts
 * writeStall(3, DEFAULT_COMPACTION_OPTIONS);  // { delay_ms: 0 }
 * writeStall(20, DEFAULT_COMPACTION_OPTIONS); // { delay_ms: 1 }
 * writeStall(36, DEFAULT_COMPACTION_OPTIONS); // "stop"
 * ```
 */
export function writeStall(
  l0_file_count: number,
  options: Pick<
    CompactionOptions,
    "level0_slowdown_trigger" | "level0_stop_trigger" | "slowdown_delay_ms"
  >,
): WriteStall {
  if (!Number.isInteger(l0_file_count) || l0_file_count < 0) {
    throw new StorageError(
      `writeStall: l0_file_count must be a non-negative integer, got ${l0_file_count}`,
    );
  }
  if (l0_file_count >= options.level0_stop_trigger) return "stop";
  if (l0_file_count >= options.level0_slowdown_trigger) {
    return { delay_ms: options.slowdown_delay_ms };
  }
  return { delay_ms: 0 };
}
