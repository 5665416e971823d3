/**
 * Background work in a dedicated Web Worker, reached through the SharedArrayBuffer channel:
 * the DB's isolate keeps serving while tables are written.
 *
 * @module
 */
import {
  ChannelClosedError,
  spawnWorkerChannel,
  type WorkerChannel,
} from "../../../shared/channel/mod.ts";
import { MAX_NICE } from "../../../shared/runtime/mod.ts";
import { StorageError } from "../errors.ts";
import type { InternalIterator } from "../iterator.ts";
import type { TableFileMeta } from "../manifest.ts";
import type { Memtable } from "../memtable.ts";
import type { TableOptions } from "../table/mod.ts";
import type { BackgroundExecutor, CompactionJob } from "./background_executor.ts";
import { DEFAULT_COMPACTION_OPTIONS, type OutputLimits } from "./compaction_options.ts";
import {
  ARENA_MESSAGE_KIND,
  type ArenaMessage,
  ChunkPacker,
  decodeJson,
  decodeMessage,
  encodeJson,
  encodeMessage,
  type FailedReply,
  ReplyKind,
  RequestKind,
  type WorkerConfig,
} from "./worker_protocol.ts";

/** Settings of {@link WorkerExecutor.start}. */
export interface WorkerExecutorOptions {
  /** Table format of outputs. */
  table_options: TableOptions;
  /** Capacity of the worker's own block cache for compaction inputs. */
  cache_capacity_bytes: number;
  /** Output file cuts (LevelDB's by default). */
  limits?: OutputLimits;
  /** Jobs submitted to one worker and not yet finished, at most (default 8); more are refused. */
  max_pending_jobs?: number;
  /** Bound of one flush chunk message (default 256 KiB). */
  flush_chunk_bytes?: number;
  /** Capacity of each ring of each channel (default 4 MiB). */
  ring_capacity_bytes?: number;
  /** Run flushes in a worker of their own, beside compactions (default true). */
  flush_worker?: boolean;
  /** Workers for compactions (default 1, at most 4): parts of a split compaction run side by side. */
  compaction_workers?: number;
  /**
   * A worker that has had no job for this long stops (default 1,000 ms; at least 1): its
   * isolate costs about 25 MiB once it has worked. It starts again when a job needs it.
   */
  idle_worker_exit_ms?: number;
  /**
   * Linux nice value of each compaction worker's thread (default 0, normal priority; at most
   * 19). The flush worker always runs at normal priority: writes stop when flushes fall
   * behind. Applied where the runtime allows it (see `lowerThreadPriority`).
   */
  compaction_nice?: number;
}

/** Default of {@link WorkerExecutorOptions.idle_worker_exit_ms}. */
const DEFAULT_IDLE_WORKER_EXIT_MS = 1000;

interface PendingJob {
  resolve(outputs: TableFileMeta[]): void;
  reject(err: Error): void;
}

const MAX_JOB_ID = 0xffffffff;
/** Shared arenas kept for reuse per lane (one per memtable that may wait for its flush). */
const MAX_POOLED_ARENAS = 4;

/** Two SharedArrayBuffers a memtable's arenas are copied into (replaced by larger ones as needed). */
class SharedArena {
  #nodes = new Int32Array(new SharedArrayBuffer(0));
  #bytes = new Uint8Array(new SharedArrayBuffer(0));

  /** Copies `nodes` and `bytes` in (growing the buffers if needed); returns views of the copies. */
  fill(nodes: Int32Array, bytes: Uint8Array): { nodes: Int32Array; bytes: Uint8Array } {
    if (this.#nodes.length < nodes.length) {
      this.#nodes = new Int32Array(new SharedArrayBuffer(nodes.length * 4));
    }
    if (this.#bytes.length < bytes.length) {
      this.#bytes = new Uint8Array(new SharedArrayBuffer(bytes.length));
    }
    this.#nodes.set(nodes);
    this.#bytes.set(bytes);
    return {
      nodes: this.#nodes.subarray(0, nodes.length),
      bytes: this.#bytes.subarray(0, bytes.length),
    };
  }
}

/**
 * One worker and its channel: runs the jobs it is given one at a time, in order, with at
 * most `max_pending_jobs` outstanding.
 */
class WorkerLane implements BackgroundExecutor {
  readonly #pending = new Map<number, PendingJob>();
  /** Shared buffers for flushMemtable, reused: a SharedArrayBuffer is freed only lazily. */
  readonly #shared_arenas: SharedArena[] = [];
  #next_job_id = 1;
  #send_queue: Promise<void> = Promise.resolve();
  #failure: StorageError | null = null;
  #closing = false;
  readonly #receiving: Promise<void>;
  readonly #max_pending_jobs: number;
  readonly #flush_chunk_bytes: number;

  private constructor(
    readonly channel: WorkerChannel,
    options: WorkerExecutorOptions,
    private readonly on_death: (failure: StorageError) => void,
  ) {
    this.#max_pending_jobs = options.max_pending_jobs ?? 8;
    this.#flush_chunk_bytes = options.flush_chunk_bytes ?? 256 << 10;
    this.#receiving = this.#receiveReplies();
  }

  /** Starts one worker and sends it its settings. */
  static async start(
    name: string,
    options: WorkerExecutorOptions,
    thread_nice: number,
    on_death: (failure: StorageError) => void,
  ): Promise<WorkerLane> {
    const channel = await spawnWorkerChannel(
      new URL("./background_worker.ts", import.meta.url),
      { capacity_bytes: options.ring_capacity_bytes ?? 4 << 20, name },
    );
    const config: WorkerConfig = {
      table_options: options.table_options,
      cache_capacity_bytes: options.cache_capacity_bytes,
      limits: options.limits ?? {
        target_file_size_bytes: DEFAULT_COMPACTION_OPTIONS.target_file_size_bytes,
        max_grandparent_overlap_bytes: DEFAULT_COMPACTION_OPTIONS.max_grandparent_overlap_bytes,
      },
      thread_nice,
    };
    try {
      await channel.sender.send(encodeMessage(RequestKind.Configure, 0, encodeJson(config)));
    } catch (err) {
      channel.terminate();
      throw err;
    }
    return new WorkerLane(channel, options, on_death);
  }

  /** Number of jobs submitted and not yet finished. */
  get pendingJobs(): number {
    return this.#pending.size;
  }

  /** Whether this lane (and so every sibling) has failed: it takes no more jobs. */
  get failed(): boolean {
    return this.#failure !== null;
  }

  /** Streams `entries` to the worker, which writes them as level-0 table `file_number`. */
  async flush(dir: string, file_number: number, entries: InternalIterator): Promise<TableFileMeta> {
    const [meta] = await this.#submit(async (job_id) => {
      const sender = this.channel.sender;
      await sender.send(
        encodeMessage(RequestKind.FlushBegin, job_id, encodeJson({ dir, file_number })),
      );
      const packer = new ChunkPacker(job_id, this.#flush_chunk_bytes);
      try {
        for (entries.seekToFirst(); entries.valid(); entries.next()) {
          const full = packer.add(entries.key(), entries.value());
          if (full !== null) await sender.send(full);
        }
      } catch (err) {
        if (err instanceof ChannelClosedError) throw err;
        await sender.send(encodeMessage(RequestKind.FlushAbort, job_id));
        throw err;
      }
      const last = packer.take();
      if (last !== null) await sender.send(last);
      await sender.send(encodeMessage(RequestKind.FlushEnd, job_id));
    });
    return meta;
  }

  /**
   * Copies the memtable's arenas into pooled shared memory (one memcpy each), shares that
   * with the worker by postMessage, then asks it to flush them. The postMessage goes first,
   * so the arena is on its way when the request arrives; the worker waits for it. The shared
   * buffers return to the pool when the job settles: the worker has stopped reading them.
   */
  async flushMemtable(
    dir: string,
    file_number: number,
    memtable: Memtable,
  ): Promise<TableFileMeta> {
    const arena = memtable.arena();
    const shared = this.#shared_arenas.pop() ?? new SharedArena();
    const copy = shared.fill(arena.nodes, arena.bytes);
    try {
      const [meta] = await this.#submit(async (job_id) => {
        const message: ArenaMessage = {
          kind: ARENA_MESSAGE_KIND,
          job_id,
          nodes: copy.nodes,
          bytes: copy.bytes,
          entry_count: arena.entry_count,
        };
        this.channel.worker.postMessage(message);
        await this.channel.sender.send(
          encodeMessage(RequestKind.FlushArena, job_id, encodeJson({ dir, file_number })),
        );
      });
      return meta;
    } finally {
      // A failed lane may leave the worker reading; it is being stopped, so reuse is moot.
      if (this.#shared_arenas.length < MAX_POOLED_ARENAS) this.#shared_arenas.push(shared);
    }
  }

  /** Sends the compaction to the worker. */
  compact(dir: string, job: CompactionJob): Promise<TableFileMeta[]> {
    return this.#submit((job_id) =>
      this.channel.sender.send(encodeMessage(RequestKind.Compact, job_id, encodeJson({ dir, job })))
    );
  }

  /** Fault injection: makes the worker die with an uncaught error. */
  async crashWorker(): Promise<void> {
    await this.#enqueueSend(() => this.channel.sender.send(encodeMessage(RequestKind.Crash, 0)));
  }

  /** Waits for pending jobs, then stops the worker. Later submissions fail. */
  async close(): Promise<void> {
    if (this.#closing) return await this.#receiving;
    this.#closing = true;
    await this.#send_queue.catch(() => {});
    // Jobs that were submitted settle before the worker stops (bounded by max_pending_jobs).
    await Promise.allSettled(
      [...this.#pending.values()].map((job) =>
        new Promise<void>((settled) => {
          const { resolve, reject } = job;
          job.resolve = (outputs) => (resolve(outputs), settled());
          job.reject = (err) => (reject(err), settled());
        })
      ),
    );
    // A clean end lets the worker finish and close its side; a failed lane (its worker, or a
    // sibling's, died) is stopped at once, which also ends the reply loop.
    if (this.#failure === null) this.channel.sender.close();
    else this.channel.terminate();
    await this.#receiving;
    this.channel.terminate();
  }

  #submit(send: (job_id: number) => Promise<void>): Promise<TableFileMeta[]> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#closing) {
      return Promise.reject(new StorageError("background executor is closed; no new jobs"));
    }
    if (this.#pending.size >= this.#max_pending_jobs) {
      return Promise.reject(
        new StorageError(
          `background queue is full (${this.#max_pending_jobs} jobs pending); ` +
            "wait for a flush or compaction to finish before submitting another",
        ),
      );
    }
    const job_id = this.#next_job_id;
    this.#next_job_id = job_id === MAX_JOB_ID ? 1 : job_id + 1;
    const result = new Promise<TableFileMeta[]>((resolve, reject) => {
      this.#pending.set(job_id, { resolve, reject });
    });
    this.#enqueueSend(() => send(job_id)).catch((err) => {
      if (err instanceof ChannelClosedError) this.fail(err);
      else this.#settle(job_id, undefined, err instanceof Error ? err : new Error(String(err)));
    });
    return result;
  }

  /** Runs sends one job at a time so that one flush's chunks are never interleaved. */
  #enqueueSend(send: () => Promise<void>): Promise<void> {
    const sent = this.#send_queue.then(send);
    this.#send_queue = sent.catch(() => {});
    return sent;
  }

  async #receiveReplies(): Promise<void> {
    const kinds = [ReplyKind.Done, ReplyKind.Failed] as const;
    try {
      // One reply per pass; ends when the worker closes its side after we close ours.
      for (
        let message = await this.channel.receiver.receive();
        message !== null;
        message = await this.channel.receiver.receive()
      ) {
        const { kind, job_id, payload } = decodeMessage(message, kinds);
        if (kind === ReplyKind.Done) {
          const result = decodeJson<TableFileMeta | TableFileMeta[]>(payload);
          this.#settle(job_id, Array.isArray(result) ? result : [result]);
        } else {
          const failed = decodeJson<FailedReply>(payload);
          this.#settle(job_id, undefined, remoteError(failed));
        }
      }
      if (this.#pending.size > 0) this.fail(new Error("worker closed its channel"));
    } catch (err) {
      this.fail(err);
    }
  }

  #settle(job_id: number, outputs?: TableFileMeta[], err?: Error): void {
    const job = this.#pending.get(job_id);
    if (job === undefined) return;
    this.#pending.delete(job_id);
    if (err !== undefined) job.reject(err);
    else job.resolve(outputs!);
  }

  /** Rejects every pending and later job (this lane died, or its sibling did). */
  fail(cause: unknown): void {
    const first = this.#failure === null;
    if (first) {
      this.#failure = cause instanceof StorageError ? cause : new StorageError(
        `storage background worker died (${
          cause instanceof Error ? cause.message : String(cause)
        }); its pending flushes and compactions were not completed and their outputs must ` +
          "not be used",
      );
    }
    for (const job_id of [...this.#pending.keys()]) this.#settle(job_id, undefined, this.#failure!);
    if (first) this.on_death(this.#failure!);
  }
}

function remoteError(failed: FailedReply): Error {
  const error = failed.name === "StorageError"
    ? new StorageError(failed.message)
    : new Error(failed.message);
  error.name = failed.name;
  return error;
}

/**
 * Runs flushes and compactions in dedicated Workers on the real disk (NodeFileSystem): one
 * worker for compactions and, with `flush_worker` (the default), a second one for flushes, so
 * that a memtable flush never waits behind a long compaction (LevelDB interrupts its
 * compaction to flush for the same reason). Each worker runs its jobs one at a time in
 * submission order. Flush entries stream to the worker in bounded chunks. At most
 * `max_pending_jobs` jobs may be outstanding per worker. If a worker dies, every pending and
 * later job rejects with a StorageError saying so.
 *
 * A worker with no job for `idle_worker_exit_ms` stops, and the next job that needs one starts
 * it again: an isolate that has worked holds about 25 MiB, which a store that only reads
 * should not pay for.
 *
 * @example
 * ```ts
 * const executor = await WorkerExecutor.start({ table_options, cache_capacity_bytes: 8 << 20 });
 * const meta = await executor.flush(dir, 12, memtable.iterator());
 * await executor.close();
 * ```
 */
export class WorkerExecutor implements BackgroundExecutor {
  /** Every lane running, flush lane included: a worker's death fails them all. */
  readonly #lanes: WorkerLane[] = [];
  /** Running compaction lanes (none after they all stopped for idleness). */
  readonly #compaction_lanes: WorkerLane[] = [];
  /** The running flush lane, if any. */
  #flush_lane: WorkerLane | null = null;
  /** A compaction worker being started (only one at a time). */
  #starting: Promise<WorkerLane | null> | null = null;
  /** The flush worker being started. */
  #starting_flush: Promise<WorkerLane> | null = null;
  #closed = false;
  #workers_started = 0;
  /** The first worker death: every later job fails with it. */
  #failure: StorageError | null = null;
  readonly #idle_timers = new Map<WorkerLane, number>();
  /** Workers stopped for idleness whose close has not finished. */
  readonly #exiting = new Set<Promise<void>>();

  private constructor(
    private readonly options: WorkerExecutorOptions & {
      idle_worker_exit_ms: number;
      compaction_nice: number;
    },
    private readonly max_compaction_workers: number,
    private readonly flush_worker: boolean,
  ) {}

  /**
   * Starts the first compaction worker and the flush worker and sends them their settings.
   * Further compaction workers (up to `compaction_workers`) start when a compaction finds
   * every one busy: a store whose compactions are never split never pays for them.
   */
  static async start(options: WorkerExecutorOptions): Promise<WorkerExecutor> {
    const max_pending = options.max_pending_jobs ?? 8;
    if (!Number.isInteger(max_pending) || max_pending < 1 || max_pending > 1024) {
      throw new StorageError(
        `max_pending_jobs must be an integer in [1, 1024], got ${max_pending}`,
      );
    }
    const idle_exit_ms = options.idle_worker_exit_ms ?? DEFAULT_IDLE_WORKER_EXIT_MS;
    if (!Number.isInteger(idle_exit_ms) || idle_exit_ms < 1 || idle_exit_ms > 2 ** 31 - 1) {
      throw new StorageError(
        `idle_worker_exit_ms must be an integer in [1, ${2 ** 31 - 1}], got ${idle_exit_ms}`,
      );
    }
    const compaction_nice = options.compaction_nice ?? 0;
    if (!Number.isInteger(compaction_nice) || compaction_nice < 0 || compaction_nice > MAX_NICE) {
      throw new StorageError(
        `compaction_nice must be an integer in [0, ${MAX_NICE}], got ${compaction_nice}`,
      );
    }
    const compaction_workers = options.compaction_workers ?? 1;
    if (!Number.isInteger(compaction_workers) || compaction_workers < 1 || compaction_workers > 4) {
      throw new StorageError(
        `compaction_workers must be an integer in [1, 4], got ${compaction_workers}`,
      );
    }
    const executor = new WorkerExecutor(
      { ...options, idle_worker_exit_ms: idle_exit_ms, compaction_nice },
      compaction_workers,
      options.flush_worker ?? true,
    );
    // Started now, so a store that cannot start its workers fails at open, not at its first flush.
    try {
      const lane = await executor.#startLane("storage-compaction-0", compaction_nice);
      executor.#compaction_lanes.push(lane);
      executor.#armIdleExit(lane);
      if (executor.flush_worker) await executor.#flushLane();
    } catch (err) {
      await executor.close();
      throw err;
    }
    return executor;
  }

  /** Compaction workers running now. */
  get compactionWorkers(): number {
    return this.#compaction_lanes.length;
  }

  /** Workers started since {@link WorkerExecutor.start}, restarts after idleness included. */
  get workersStarted(): number {
    return this.#workers_started;
  }

  /** Workers running now, the flush worker included. */
  get runningWorkers(): number {
    return this.#lanes.length;
  }

  /** Number of jobs submitted and not yet finished, over all workers. */
  get pendingJobs(): number {
    return this.#lanes.reduce((sum, lane) => sum + lane.pendingJobs, 0);
  }

  /** Streams `entries` to the flush worker, which writes them as level-0 table `file_number`. */
  async flush(dir: string, file_number: number, entries: InternalIterator): Promise<TableFileMeta> {
    const lane = await this.#laneForFlush();
    return await this.#track(lane, lane.flush(dir, file_number, entries));
  }

  /** Shares the memtable's arenas with the flush worker, which writes table `file_number`. */
  async flushMemtable(
    dir: string,
    file_number: number,
    memtable: Memtable,
  ): Promise<TableFileMeta> {
    const lane = await this.#laneForFlush();
    return await this.#track(lane, lane.flushMemtable(dir, file_number, memtable));
  }

  /**
   * Sends the compaction to an idle compaction worker; when every one is busy, to a new one
   * (while fewer than `compaction_workers` run), else to the one with the fewest jobs.
   */
  async compact(dir: string, job: CompactionJob): Promise<TableFileMeta[]> {
    // Bounded: each pass that does not return waits for a worker start, at most one per slot.
    for (let pass = 0; pass <= this.max_compaction_workers; pass++) {
      this.#checkUsable();
      const lane = this.#leastBusy();
      if (lane !== null && lane.pendingJobs === 0) {
        return await this.#track(lane, lane.compact(dir, job));
      }
      if (this.#compaction_lanes.length >= this.max_compaction_workers) break;
      // Until the new worker is up (or if it cannot start), the job waits for it, then goes to
      // whichever lane is best at that moment.
      await (this.#starting ?? this.#startCompactionLane());
    }
    const lane = await this.#someCompactionLane();
    return await this.#track(lane, lane.compact(dir, job));
  }

  /** Fault injection for tests: makes a compaction worker die with an uncaught error. */
  async crashWorkerForTest(): Promise<void> {
    if (this.#compaction_lanes.length === 0) await this.#startCompactionLane();
    await this.#compaction_lanes[0].crashWorker();
  }

  /** Waits for pending jobs, then stops the workers. Later submissions fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#idle_timers.values()) clearTimeout(timer);
    this.#idle_timers.clear();
    await Promise.allSettled([this.#starting, this.#starting_flush]);
    await Promise.all([...this.#lanes.map((lane) => lane.close()), ...this.#exiting]);
  }

  #checkUsable(): void {
    if (this.#failure !== null) throw this.#failure;
    if (this.#closed) throw new StorageError("storage background executor is closed");
  }

  /** The lane flushes go to: the flush worker, or a compaction worker without one. */
  async #laneForFlush(): Promise<WorkerLane> {
    this.#checkUsable();
    if (this.flush_worker) return await this.#flushLane();
    return await this.#someCompactionLane();
  }

  /** The least busy compaction lane, started first if none runs. */
  async #someCompactionLane(): Promise<WorkerLane> {
    if (this.#leastBusy() === null) await (this.#starting ?? this.#startCompactionLane());
    this.#checkUsable();
    const lane = this.#leastBusy();
    if (lane === null) throw new StorageError("no storage compaction worker could be started");
    return lane;
  }

  /** The flush lane, started if it is not running. */
  #flushLane(): Promise<WorkerLane> {
    if (this.#flush_lane !== null) return Promise.resolve(this.#flush_lane);
    this.#starting_flush ??= this.#startLane("storage-flush", 0).then((lane) => {
      this.#flush_lane = lane;
      this.#armIdleExit(lane);
      return lane;
    }).finally(() => (this.#starting_flush = null));
    return this.#starting_flush;
  }

  /** Keeps `lane` from stopping while `job` runs, and arms its idle timer when it settles. */
  #track<T>(lane: WorkerLane, job: Promise<T>): Promise<T> {
    const timer = this.#idle_timers.get(lane);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#idle_timers.delete(lane);
    }
    const arm = () => this.#armIdleExit(lane);
    job.then(arm, arm);
    return job;
  }

  /** Starts `lane`'s idle-exit timer unless it has jobs or one is running. */
  #armIdleExit(lane: WorkerLane): void {
    if (lane.pendingJobs > 0 || this.#closed || this.#idle_timers.has(lane)) return;
    // Deno's setTimeout returns a number; the type seen here is Node's.
    const handle = setTimeout(
      () => this.#exitIdle(lane),
      this.options.idle_worker_exit_ms,
    ) as unknown as number;
    Deno.unrefTimer(handle); // an idle worker never keeps the process alive
    this.#idle_timers.set(lane, handle);
  }

  /** Stops `lane` if it is still idle: it leaves the lanes first, so no job can reach it. */
  #exitIdle(lane: WorkerLane): void {
    this.#idle_timers.delete(lane);
    if (lane.pendingJobs > 0 || lane.failed || this.#closed) return;
    const at = this.#lanes.indexOf(lane);
    if (at < 0) return;
    this.#lanes.splice(at, 1);
    const compaction_at = this.#compaction_lanes.indexOf(lane);
    if (compaction_at >= 0) this.#compaction_lanes.splice(compaction_at, 1);
    if (this.#flush_lane === lane) this.#flush_lane = null;
    const exiting: Promise<void> = lane.close().catch(() => {}).finally(() =>
      this.#exiting.delete(exiting)
    );
    this.#exiting.add(exiting);
  }

  #leastBusy(): WorkerLane | null {
    let best: WorkerLane | null = null;
    for (const lane of this.#compaction_lanes) {
      if (best === null || lane.pendingJobs < best.pendingJobs) best = lane;
    }
    return best;
  }

  /** Starts one more compaction worker; null when it could not start (the others go on). */
  #startCompactionLane(): Promise<WorkerLane | null> {
    const name = `storage-compaction-${this.#compaction_lanes.length}`;
    this.#starting = this.#startLane(name, this.options.compaction_nice).then(
      (lane) => {
        this.#compaction_lanes.push(lane);
        // The job that asked for it may go to a lane that has freed up meanwhile.
        this.#armIdleExit(lane);
        return lane;
      },
      () => null,
    ).finally(() => (this.#starting = null));
    return this.#starting;
  }

  /**
   * Starts a worker lane and adds it to the running lanes; a closed or failed executor
   * closes it again and rejects.
   */
  async #startLane(name: string, thread_nice: number): Promise<WorkerLane> {
    this.#checkUsable();
    const lane = await WorkerLane.start(
      name,
      this.options,
      thread_nice,
      (failure) => this.#failAll(failure),
    );
    this.#workers_started++;
    if (this.#closed || this.#failure !== null) {
      await lane.close();
      this.#checkUsable();
    }
    this.#lanes.push(lane);
    return lane;
  }

  /** A worker's death fails its siblings too: the store must see one consistent failure. */
  #failAll(failure: StorageError): void {
    this.#failure ??= failure;
    for (const lane of [...this.#lanes]) lane.fail(failure);
  }
}
