/**
 * Background work run in the calling isolate, on any FileSystem.
 *
 * @module
 */
import type { FileSystem } from "../../../shared/fs/mod.ts";
import { StorageError } from "../errors.ts";
import type { InternalIterator } from "../iterator.ts";
import type { TableFileMeta } from "../manifest.ts";
import type { Memtable } from "../memtable.ts";
import type { BlockCache, TableOptions } from "../table/mod.ts";
import type { BackgroundExecutor, CompactionJob } from "./background_executor.ts";
import { DEFAULT_COMPACTION_OPTIONS, type OutputLimits } from "./compaction_options.ts";
import { runCompactionJob, runFlushJob } from "./compaction_job.ts";

/**
 * Runs flushes and compactions inline: the same job functions as the worker, on the given
 * FileSystem. Crash tests use it with a FaultyFileSystem, which a worker cannot share.
 *
 * @example
 * ```ts
 * const executor = new InlineExecutor(fs, table_options, cache);
 * const meta = await executor.flush(dir, 7, memtable.iterator());
 * ```
 */
export class InlineExecutor implements BackgroundExecutor {
  readonly #running = new Set<Promise<unknown>>();
  #closed = false;

  /**
   * @param fs where tables are read and written
   * @param table_options table format of outputs
   * @param cache block cache for compaction inputs
   * @param limits output file cuts (LevelDB's by default)
   */
  constructor(
    private readonly fs: FileSystem,
    private readonly table_options: TableOptions,
    private readonly cache: BlockCache,
    private readonly limits: OutputLimits = DEFAULT_COMPACTION_OPTIONS,
  ) {}

  /** Writes `entries` as level-0 table `file_number`. */
  flush(dir: string, file_number: number, entries: InternalIterator): Promise<TableFileMeta> {
    return this.#track(() => runFlushJob(this.fs, dir, file_number, entries, this.table_options));
  }

  /** Writes the memtable's entries as level-0 table `file_number`. */
  flushMemtable(dir: string, file_number: number, memtable: Memtable): Promise<TableFileMeta> {
    return this.flush(dir, file_number, memtable.iterator());
  }

  /** Runs the compaction. */
  compact(dir: string, job: CompactionJob): Promise<TableFileMeta[]> {
    return this.#track(() =>
      runCompactionJob(this.fs, dir, job, this.table_options, this.cache, this.limits)
    );
  }

  /** Waits for running jobs; later submissions fail. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#running]);
  }

  #track<T>(start: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new StorageError("background executor is closed; no new jobs"));
    }
    const job = start();
    this.#running.add(job);
    const forget = () => this.#running.delete(job);
    job.then(forget, forget);
    return job;
  }
}
