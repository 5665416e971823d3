/**
 * The face the DB sees for its background work: where flushes and compactions run is an
 * implementation choice (inline on any FileSystem, or a dedicated Worker on the real disk).
 *
 * @module
 */
import type { InternalIterator } from "../iterator.ts";
import type { TableFileMeta } from "../manifest.ts";
import type { Memtable } from "../memtable.ts";
import type { CompactionPlan } from "./compaction_picker.ts";
import type { KeyRange } from "./subcompaction.ts";

/** One compaction handed to an executor: the plan plus what the DB decides around it. */
export interface CompactionJob {
  /** What to merge and where the outputs go. */
  plan: CompactionPlan;
  /**
   * Oldest sequence any open snapshot reads at (the last sequence when there is none):
   * versions older than the newest one at or below it are invisible to every reader.
   */
  smallest_snapshot_sequence: number;
  /**
   * File numbers pre-allocated by the DB for the outputs, used in order. The job fails with a
   * StorageError rather than invent a number if it needs more. Allocate
   * ceil(total input bytes / target_file_size_bytes) + 2 plus one per grandparent file.
   */
  output_file_numbers: number[];
  /**
   * The user keys this job covers when the compaction was split into parts run side by side
   * (see subcompaction.ts); absent: all of the plan's keys.
   */
  range?: KeyRange;
}

/**
 * Runs flushes and compactions. Every returned table is synced, and its directory entry
 * too, before the promise resolves; the DB then records it in the manifest.
 *
 * @example
 * ```ts
 * const meta = await executor.flush(dir, file_number, memtable.iterator());
 * const outputs = await executor.compact(dir, { plan, smallest_snapshot_sequence, output_file_numbers });
 * await executor.close();
 * ```
 */
export interface BackgroundExecutor {
  /**
   * Writes every entry of `entries` (not closed here; it must stay unchanged until the
   * promise settles) as level-0 table `file_number` in `dir`.
   */
  flush(dir: string, file_number: number, entries: InternalIterator): Promise<TableFileMeta>;
  /**
   * Writes a memtable that takes no more writes as level-0 table `file_number` in `dir`
   * (a worker gets the arenas in one copy into shared memory: no packing entry by entry).
   */
  flushMemtable(dir: string, file_number: number, memtable: Memtable): Promise<TableFileMeta>;
  /** Runs a compaction; the outputs are new tables of `job.plan.output_level`, in key order. */
  compact(dir: string, job: CompactionJob): Promise<TableFileMeta[]>;
  /** Waits for the jobs already submitted, then releases the executor's resources. */
  close(): Promise<void>;
}
