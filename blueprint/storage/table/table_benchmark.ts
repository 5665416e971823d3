/**
 * Benchmark of the table layer alone (no memtable, WAL or manifest):
 * `./scripts/deno run -A blueprint/storage/table/table_benchmark.ts [--quick] [--json] [--num N]`.
 *
 * - build: N entries (16-byte user keys, 100-byte values) added to 2 MiB tables on the real
 *   disk; `add_per_s` counts the add loop only, `finish_ms` the index, filter, footer and
 *   fdatasync of all tables; `cpu_per_s` uses this process's CPU time, which stays meaningful
 *   on a machine shared with other work.
 * - get_cached / get_small_cache: N random point reads of present keys, table chosen by key
 *   range as a level lookup does, with a cache holding everything and with 8 MiB
 *   (LevelDB's default) so most reads verify a block read from the page cache.
 * - get_absent: N reads of absent keys (the bloom filter answers).
 * - scan: every entry of every table, in order.
 *
 * Exports `run(args)` like the suites of `scripts/bench/`, so it can be registered there.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { NodeFileSystem } from "../../../shared/fs/mod.ts";
import { BenchReport } from "../../../scripts/bench/report.ts";
import { compareBytes, encodeInternalKey, MAX_SEQUENCE, ValueType } from "../internal_key.ts";
import {
  BlockCache,
  DEFAULT_TABLE_OPTIONS,
  TableBuilder,
  tableFileName,
  TableReader,
} from "./mod.ts";
import { seededRandom } from "../../../shared/random/mod.ts";

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const TABLE_TARGET_BYTES = 2 << 20;
const DEFAULT_NUM = 1_000_000;
const QUICK_NUM = 100_000;
const MAX_NUM = 20_000_000;
const SMALL_CACHE_BYTES = 8 << 20;

interface OpenTable {
  reader: TableReader;
  largest_user_key: Uint8Array;
}

/** Key `index` as 16 ASCII digits. */
function makeKey(index: number): Uint8Array {
  const key = new Uint8Array(KEY_BYTES);
  let rest = index;
  for (let i = KEY_BYTES - 1; i >= 0; i--) {
    key[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return key;
}

/** Wall and CPU time of `body`, in milliseconds. */
async function measure(
  body: () => void | Promise<void>,
): Promise<{ wall_ms: number; cpu_ms: number }> {
  const cpu_start = process.cpuUsage();
  const wall_start = performance.now();
  await body();
  const wall_ms = performance.now() - wall_start;
  const cpu = process.cpuUsage(cpu_start);
  return { wall_ms, cpu_ms: (cpu.user + cpu.system) / 1000 };
}

const perSecond = (count: number, ms: number) => Math.round((count / ms) * 1000);

async function buildTables(dir: string, num: number, report: BenchReport): Promise<number[]> {
  const fs = new NodeFileSystem();
  const value = new Uint8Array(VALUE_BYTES).map((_, i) => (i * 131) & 0xff);
  const keys = Array.from(
    { length: num },
    (_, i) => encodeInternalKey(makeKey(i), i + 1, ValueType.Value),
  );
  const sizes: number[] = [];
  let add_ms = 0;
  let add_cpu_ms = 0;
  let finish_ms = 0;
  let next = 0;
  // Bounded: each table takes at least one entry.
  for (let file_number = 1; next < num; file_number++) {
    const builder = new TableBuilder(
      fs,
      join(dir, tableFileName(file_number)),
      DEFAULT_TABLE_OPTIONS,
    );
    const added = await measure(() => {
      while (next < num && builder.estimatedSizeBytes() < TABLE_TARGET_BYTES) {
        builder.add(keys[next], value);
        next++;
      }
    });
    add_ms += added.wall_ms;
    add_cpu_ms += added.cpu_ms;
    const finished = await measure(async () => {
      sizes.push((await builder.finish()).size_bytes);
    });
    finish_ms += finished.wall_ms;
  }
  report.add({
    bench: "build",
    impl: "draft-table",
    ops: num,
    add_per_s: perSecond(num, add_ms),
    cpu_per_s: perSecond(num, add_cpu_ms),
    finish_ms: Math.round(finish_ms),
    tables: sizes.length,
  });
  return sizes;
}

function openTables(dir: string, sizes: number[], cache: BlockCache, num: number): OpenTable[] {
  const fs = new NodeFileSystem();
  let first_index = 0;
  return sizes.map((size_bytes, i) => {
    const reader = TableReader.open(fs, join(dir, tableFileName(i + 1)), i + 1, size_bytes, cache);
    const it = reader.iterator({ fill_cache: false });
    let count = 0;
    for (it.seekToFirst(); it.valid(); it.next()) count++;
    it.close();
    first_index += count;
    return { reader, largest_user_key: makeKey(Math.min(num, first_index) - 1) };
  });
}

/** The table whose key range may hold `user_key` (tables are sorted and disjoint). */
function tableFor(tables: OpenTable[], user_key: Uint8Array): TableReader {
  let low = 0;
  let high = tables.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareBytes(tables[mid].largest_user_key, user_key) < 0) low = mid + 1;
    else high = mid;
  }
  return tables[low].reader;
}

async function readBench(
  name: string,
  tables: OpenTable[],
  user_keys: Uint8Array[],
  expect_found: boolean,
  report: BenchReport,
): Promise<void> {
  let found = 0;
  // One untimed pass warms the JIT (and the cache, where it fits).
  for (const key of user_keys) tableFor(tables, key).get(key, MAX_SEQUENCE);
  const timing = await measure(() => {
    for (const key of user_keys) {
      if (tableFor(tables, key).get(key, MAX_SEQUENCE) !== undefined) found++;
    }
  });
  if (found !== (expect_found ? user_keys.length : 0)) {
    throw new Error(`${name}: found ${found} of ${user_keys.length} keys`);
  }
  report.add({
    bench: name,
    impl: "draft-table",
    ops: user_keys.length,
    ops_per_s: perSecond(user_keys.length, timing.wall_ms),
    cpu_per_s: perSecond(user_keys.length, timing.cpu_ms),
  });
}

async function scanBench(tables: OpenTable[], report: BenchReport): Promise<void> {
  let count = 0;
  const timing = await measure(() => {
    for (const { reader } of tables) {
      const it = reader.iterator({ fill_cache: false });
      for (it.seekToFirst(); it.valid(); it.next()) {
        it.key();
        it.value();
        count++;
      }
      it.close();
    }
  });
  report.add({
    bench: "scan",
    impl: "draft-table",
    ops: count,
    ops_per_s: perSecond(count, timing.wall_ms),
    cpu_per_s: perSecond(count, timing.cpu_ms),
  });
}

/** Runs the table benchmarks; see the module documentation for the arguments. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      num: { type: "string" },
    },
    strict: true,
  });
  const num = values.num === undefined
    ? (values.quick ? QUICK_NUM : DEFAULT_NUM)
    : Number(values.num);
  if (!Number.isInteger(num) || num < 1000 || num > MAX_NUM) {
    throw new RangeError(`--num must be an integer in [1000, ${MAX_NUM}], got ${values.num}`);
  }
  const report = new BenchReport(values.json);
  const dir = await Deno.makeTempDir({ prefix: "table_benchmark_" });
  try {
    const sizes = await buildTables(dir, num, report);
    const random = seededRandom(17);
    const present = Array.from({ length: num }, () => makeKey(Math.floor(random() * num)));
    // Present keys with the last digit replaced by "x": absent, yet inside the tables' ranges.
    const absent = present.map((key) => {
      const copy = key.slice();
      copy[KEY_BYTES - 1] = 0x78;
      return copy;
    });
    const big = openTables(dir, sizes, new BlockCache(2 * sizes.reduce((a, b) => a + b, 0)), num);
    await readBench("get_cached", big, present, true, report);
    await readBench("get_absent", big, absent, false, report);
    await scanBench(big, report);
    for (const { reader } of big) reader.close();
    const small = openTables(dir, sizes, new BlockCache(SMALL_CACHE_BYTES), num);
    await readBench("get_small_cache", small, present, true, report);
    for (const { reader } of small) reader.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  report.finish();
}

if (import.meta.main) await run(Deno.args);
