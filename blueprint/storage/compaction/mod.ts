/**
 * Compaction of the storage engine: choosing what to compact (pure), throttling writers when
 * level 0 grows too fast (pure), and the flush and compaction jobs themselves, run inline on
 * any FileSystem or in a dedicated background Worker.
 *
 * @example
 * ```ts
 * const plan = pickCompaction(state, DEFAULT_COMPACTION_OPTIONS);
 * const stall = writeStall(state.levels[0].length, DEFAULT_COMPACTION_OPTIONS);
 * ```
 *
 * @module
 */
export {
  type CompactionOptions,
  DEFAULT_COMPACTION_OPTIONS,
  maxBytesForLevel,
  type OutputLimits,
  resolveCompactionOptions,
} from "./compaction_options.ts";
export {
  type CompactionPlan,
  compactionScores,
  overlappingFiles,
  pickCompaction,
  planForLevel,
  totalBytes,
} from "./compaction_picker.ts";
export { SlowdownPacer, type WriteStall, writeStall } from "./write_stall.ts";
export { GrandparentOverlap } from "./grandparent_overlap.ts";
export type { BackgroundExecutor, CompactionJob } from "./background_executor.ts";
export {
  FlushWriter,
  runCompactionJob,
  runFlushJob,
  tableFilePath,
  VersionFilter,
} from "./compaction_job.ts";
export { InlineExecutor } from "./inline_executor.ts";
export { type KeyRange, subcompactionRanges } from "./subcompaction.ts";
export { WorkerExecutor, type WorkerExecutorOptions } from "./worker_executor.ts";
