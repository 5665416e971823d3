import assert from "node:assert/strict";
import { NodeFileSystem } from "../../../shared/fs/mod.ts";
import { threadNice } from "../../../shared/runtime/mod.ts";
import { compareInternalKeys, encodeInternalKey, ValueType } from "../internal_key.ts";
import type { InternalIterator } from "../iterator.ts";
import type { TableFileMeta } from "../manifest.ts";
import { BlockCache, DEFAULT_TABLE_OPTIONS, TableReader } from "../table/mod.ts";
import type { CompactionPlan } from "./compaction_picker.ts";
import { tableFilePath } from "./compaction_job.ts";
import { InlineExecutor } from "./inline_executor.ts";
import { WorkerExecutor, type WorkerExecutorOptions } from "./worker_executor.ts";
import { Memtable } from "../memtable.ts";

const fs = new NodeFileSystem();
const text = new TextEncoder();

interface Entry {
  key: Uint8Array;
  value: Uint8Array;
}

class ArrayIterator implements InternalIterator {
  #index = 0;
  constructor(readonly entries: Entry[]) {}
  valid(): boolean {
    return this.#index < this.entries.length;
  }
  seekToFirst(): void {
    this.#index = 0;
  }
  seekToLast(): void {
    this.#index = this.entries.length - 1;
  }
  seek(target: Uint8Array): void {
    const found = this.entries.findIndex((e) => compareInternalKeys(e.key, target) >= 0);
    this.#index = found < 0 ? this.entries.length : found;
  }
  next(): void {
    this.#index++;
  }
  prev(): void {
    this.#index = this.#index === 0 ? this.entries.length : this.#index - 1;
  }
  key(): Uint8Array {
    return this.entries[this.#index].key;
  }
  value(): Uint8Array {
    return this.entries[this.#index].value;
  }
  close(): void {}
}

/** `count` keys from `first`, every `step`-th, all at `sequence`, values of `value_bytes`. */
function entries(first: number, count: number, step: number, sequence: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    key: encodeInternalKey(
      text.encode(`key${String(first + i * step).padStart(8, "0")}`),
      sequence,
      ValueType.Value,
    ),
    value: text.encode(`value-${sequence}-${i}`.padEnd(100, ".")),
  }));
}

function readTable(dir: string, meta: TableFileMeta): Entry[] {
  const reader = TableReader.open(
    fs,
    tableFilePath(dir, meta.file_number),
    meta.file_number,
    meta.size_bytes,
    new BlockCache(1 << 20),
  );
  const it = reader.iterator();
  const out: Entry[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) {
    out.push({ key: it.key().slice(), value: it.value().slice() });
  }
  it.close();
  reader.close();
  return out;
}

function plan(inputs: TableFileMeta[]): CompactionPlan {
  return {
    level: 0,
    inputs,
    next_inputs: [],
    output_level: 1,
    bottommost: true,
    grandparents: [],
    compact_pointer: inputs[0].largest_key,
    trivial_move: false,
  };
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "compaction_worker_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("WorkerExecutor: flush and compaction round trip match the inline executor", async () => {
  await withTempDir(async (dir) => {
    const executor = await WorkerExecutor.start({
      table_options: DEFAULT_TABLE_OPTIONS,
      cache_capacity_bytes: 1 << 20,
      flush_chunk_bytes: 4096, // many chunks per flush
      limits: { target_file_size_bytes: 64 << 10, max_grandparent_overlap_bytes: 1 << 30 },
    });
    try {
      const older = entries(0, 3000, 2, 1); // even keys
      const newer = entries(1000, 1000, 1, 2); // overwrites half of them, adds odd ones
      const [first, second] = await Promise.all([
        executor.flush(dir, 1, new ArrayIterator(older)),
        executor.flush(dir, 2, new ArrayIterator(newer)),
      ]);
      assert.equal(first.file_number, 1);
      assert.deepEqual(readTable(dir, first), older);
      assert.deepEqual(readTable(dir, second), newer);
      assert.deepEqual(first.smallest_key, older[0].key);

      const job = (numbers: number[]) => ({
        plan: plan([first, second]),
        smallest_snapshot_sequence: 2,
        output_file_numbers: numbers,
      });
      const by_worker = await executor.compact(dir, job([10, 11, 12, 13, 14, 15, 16, 17]));
      const inline = new InlineExecutor(fs, DEFAULT_TABLE_OPTIONS, new BlockCache(1 << 20), {
        target_file_size_bytes: 64 << 10,
        max_grandparent_overlap_bytes: 1 << 30,
      });
      const by_inline = await inline.compact(dir, job([20, 21, 22, 23, 24, 25, 26, 27]));
      await inline.close();
      assert.ok(by_worker.length > 1, "outputs were split at the target size");
      assert.deepEqual(
        by_worker.map((m) => [m.size_bytes, m.smallest_key, m.largest_key]),
        by_inline.map((m) => [m.size_bytes, m.smallest_key, m.largest_key]),
      );
      const merged = by_worker.flatMap((m) => readTable(dir, m));
      assert.equal(merged.length, 3000 + 500, "1000 new keys, 500 of which overwrite old ones");
    } finally {
      await executor.close();
    }
  });
});

Deno.test("WorkerExecutor: a failed job reports its error and the worker keeps serving", async () => {
  await withTempDir(async (dir) => {
    const executor = await WorkerExecutor.start({
      table_options: DEFAULT_TABLE_OPTIONS,
      cache_capacity_bytes: 1 << 20,
      flush_worker: false, // flushes and compactions share one worker
    });
    try {
      const missing: TableFileMeta = {
        file_number: 99,
        size_bytes: 1000,
        smallest_key: entries(0, 1, 1, 1)[0].key,
        largest_key: entries(5, 1, 1, 1)[0].key,
      };
      await assert.rejects(
        executor.compact(dir, {
          plan: plan([missing]),
          smallest_snapshot_sequence: 1,
          output_file_numbers: [100],
        }),
        /000099\.sst/,
      );
      await assert.rejects(executor.flush(dir, 3, new ArrayIterator([])), /no entries/);
      const meta = await executor.flush(dir, 4, new ArrayIterator(entries(0, 10, 1, 1)));
      assert.equal(readTable(dir, meta).length, 10);
    } finally {
      await executor.close();
    }
  });
});

Deno.test("WorkerExecutor: pending jobs are bounded", async () => {
  await withTempDir(async (dir) => {
    const executor = await WorkerExecutor.start({
      table_options: DEFAULT_TABLE_OPTIONS,
      cache_capacity_bytes: 1 << 20,
      max_pending_jobs: 1,
    });
    try {
      const first = executor.flush(dir, 1, new ArrayIterator(entries(0, 100, 1, 1)));
      await assert.rejects(
        executor.flush(dir, 2, new ArrayIterator(entries(0, 100, 1, 1))),
        /background queue is full \(1 jobs pending\)/,
      );
      assert.equal((await first).file_number, 1);
    } finally {
      await executor.close();
    }
    await assert.rejects(
      executor.flush(dir, 5, new ArrayIterator(entries(0, 1, 1, 1))),
      /closed/,
    );
  });
});

Deno.test("WorkerExecutor: a worker crash rejects pending and later jobs", async () => {
  await withTempDir(async (dir) => {
    const executor = await WorkerExecutor.start({
      table_options: DEFAULT_TABLE_OPTIONS,
      cache_capacity_bytes: 1 << 20,
    });
    try {
      const input = await executor.flush(dir, 1, new ArrayIterator(entries(0, 100, 1, 1)));
      await executor.crashWorkerForTest();
      const pending = executor.compact(dir, {
        plan: plan([input]),
        smallest_snapshot_sequence: 1,
        output_file_numbers: [2],
      });
      await assert.rejects(pending, /storage background worker died/);
      // The flush worker is failed with its sibling: the DB sees one consistent failure.
      await assert.rejects(
        executor.flush(dir, 2, new ArrayIterator(entries(0, 1, 1, 1))),
        /storage background worker died/,
      );
      assert.equal(executor.pendingJobs, 0);
    } finally {
      await executor.close();
    }
  });
});

Deno.test("WorkerExecutor: flushMemtable writes the shared arena as the inline executor does", async () => {
  await withTempDir(async (dir) => {
    const memtable = new Memtable(7, 1 << 10); // a small hint: the arenas grow while filling
    const expected: Entry[] = [];
    for (let i = 0; i < 5000; i++) {
      const user_key = text.encode(`key${String((i * 7919) % 5000).padStart(8, "0")}`);
      const value = text.encode(`value-${i}`.padEnd(100 + (i % 50), "."));
      const type = i % 11 === 0 ? ValueType.Deletion : ValueType.Value;
      memtable.add(i + 1, type, user_key, type === ValueType.Deletion ? new Uint8Array() : value);
    }
    for (const it = memtable.iterator(), _ = it.seekToFirst(); it.valid(); it.next()) {
      expected.push({ key: it.key().slice(), value: it.value().slice() });
    }
    const executor = await WorkerExecutor.start({
      table_options: DEFAULT_TABLE_OPTIONS,
      cache_capacity_bytes: 1 << 20,
    });
    try {
      const [by_worker, also_by_worker] = await Promise.all([
        executor.flushMemtable(dir, 1, memtable),
        executor.flushMemtable(dir, 2, memtable),
      ]);
      assert.deepEqual(readTable(dir, by_worker), expected);
      assert.deepEqual(readTable(dir, also_by_worker), expected);
      const inline = new InlineExecutor(fs, DEFAULT_TABLE_OPTIONS, new BlockCache(1 << 20));
      const by_inline = await inline.flushMemtable(dir, 3, memtable);
      assert.deepEqual({ ...by_worker, file_number: 3 }, by_inline);
    } finally {
      await executor.close();
    }
  });
});

/** A compaction of one input table into table `output`. */
type OneTableJob = (input: TableFileMeta, output: number) => Promise<TableFileMeta[]>;

/**
 * Runs `body` on an executor with two compaction workers allowed and two flushed tables to
 * compact (`a` and `b`), then closes it.
 */
async function withTwoTables(
  options: Partial<WorkerExecutorOptions>,
  body: (
    executor: WorkerExecutor,
    a: TableFileMeta,
    b: TableFileMeta,
    job: OneTableJob,
    dir: string,
  ) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const executor = await WorkerExecutor.start({
      table_options: DEFAULT_TABLE_OPTIONS,
      cache_capacity_bytes: 1 << 20,
      compaction_workers: 2,
      ...options,
    });
    try {
      const a = await executor.flush(dir, 1, new ArrayIterator(entries(0, 100, 1, 1)));
      const b = await executor.flush(dir, 2, new ArrayIterator(entries(100, 100, 101, 1)));
      const job: OneTableJob = (input, output) =>
        executor.compact(dir, {
          plan: plan([input]),
          smallest_snapshot_sequence: 1000,
          output_file_numbers: [output],
        });
      await body(executor, a, b, job, dir);
    } finally {
      await executor.close();
    }
  });
}

Deno.test("WorkerExecutor: a second compaction worker starts only when one is busy", async () => {
  await withTwoTables({}, async (executor, a, b, job) => {
    await job(a, 10);
    assert.equal(executor.compactionWorkers, 1, "one job at a time needs one worker");
    const [first, second] = await Promise.all([job(a, 11), job(b, 12)]);
    assert.equal(executor.compactionWorkers, 2, "two at once started the second");
    assert.deepEqual([first[0].file_number, second[0].file_number], [11, 12]);
    await Promise.all([job(a, 13), job(b, 14), job(a, 15)]);
    assert.equal(executor.compactionWorkers, 2, "never more than compaction_workers");
  });
});

/** Waits (up to 10 s) until `done()` holds. */
async function waitUntil(done: () => boolean): Promise<void> {
  const deadline_ms = Date.now() + 10_000;
  while (!done() && Date.now() < deadline_ms) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("WorkerExecutor: idle workers stop, and the jobs that need them start them again", async () => {
  await withTwoTables({ idle_worker_exit_ms: 50 }, async (executor, a, b, job, dir) => {
    await waitUntil(() => executor.runningWorkers === 0);
    assert.equal(executor.runningWorkers, 0, "every idle worker stopped, the flush worker too");
    const started = executor.workersStarted;
    const [first, second] = await Promise.all([job(a, 12), job(b, 13)]);
    assert.equal(executor.workersStarted, started + 2, "two jobs at once started two workers");
    assert.deepEqual([first[0].file_number, second[0].file_number], [12, 13]);
    assert.deepEqual(readTable(dir, first[0]), readTable(dir, a));
    assert.deepEqual(readTable(dir, second[0]), readTable(dir, b));
    await waitUntil(() => executor.runningWorkers === 0);
    const flushed = await executor.flush(dir, 14, new ArrayIterator(entries(0, 10, 1, 1)));
    assert.equal(executor.workersStarted, started + 3, "a flush started the flush worker");
    assert.equal(executor.compactionWorkers, 0, "and no compaction worker");
    assert.deepEqual(readTable(dir, flushed), entries(0, 10, 1, 1));
  });
});

/**
 * Web Worker threads of this process (Deno names them `worker-N`) whose nice value is `nice`.
 * Other threads may inherit it: a pool thread started by a worker starts at its priority.
 */
function workerThreadsAtNice(nice: number): number {
  let count = 0;
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    const name = Deno.readTextFileSync(`/proc/self/task/${entry.name}/comm`);
    if (name.startsWith("worker-") && threadNice(Number(entry.name)) === nice) count++;
  }
  return count;
}

Deno.test({
  name:
    "WorkerExecutor: compaction workers run at compaction_nice, the flush worker at normal priority",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // 13: a value nothing else in the test process uses.
    assert.equal(workerThreadsAtNice(13), 0);
    const main_nice = threadNice(Deno.pid);
    await withTwoTables({ compaction_nice: 13 }, async (executor, a, b, job, dir) => {
      await Promise.all([job(a, 10), job(b, 11)]);
      assert.equal(executor.compactionWorkers, 2);
      assert.equal(workerThreadsAtNice(13), 2, "both compaction workers' threads");
      await executor.flush(dir, 12, new ArrayIterator(entries(0, 10, 1, 1)));
      assert.equal(workerThreadsAtNice(13), 2, "the flush worker keeps normal priority");
      assert.ok(workerThreadsAtNice(0) >= 1, "the flush worker's thread is at nice 0");
      assert.equal(threadNice(Deno.pid), main_nice, "the main thread keeps its priority");
    });
  },
});

Deno.test("WorkerExecutor: compaction_nice and idle_worker_exit_ms are checked", async () => {
  const bad: [Partial<WorkerExecutorOptions>, RegExp][] = [
    [{ compaction_nice: 20 }, /compaction_nice must be an integer in \[0, 19\], got 20/],
    [{ idle_worker_exit_ms: 0 }, /idle_worker_exit_ms must be an integer in \[1, /],
  ];
  for (const [options, message] of bad) {
    await assert.rejects(
      WorkerExecutor.start({
        table_options: DEFAULT_TABLE_OPTIONS,
        cache_capacity_bytes: 1 << 20,
        ...options,
      }),
      message,
    );
  }
});
