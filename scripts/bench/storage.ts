/**
 * `deno task bench storage [--quick] [--json] [--num N] [--reads N] [--only draft|leveldb]
 * [--benchmarks fillseq,readrandom,...]`: the storage
 * engine beside LevelDB (classic-level) on the same work, in the style of LevelDB's db_bench.
 *
 * Benchmarks, in order, for each implementation in fresh temp directories:
 * - fillseq: N keys in ascending order; fillrandom: N uniformly random keys (with repeats);
 *   overwrite: N more random keys on the fillrandom database. Writes in batches of 1,000,
 *   not synced (both sides).
 * - readrandom: R point reads (R = --reads, default N, as db_bench's --reads) of random keys (draft `get`, LevelDB `getSync`, both
 *   synchronous); readseq: one full scan; seekrandom: R seeks to a random key, reading the
 *   first entry at or after it (LevelDB only has an asynchronous iterator for this).
 * - fillsync: N/100 writes of one entry, each synced before the next starts; the disk's own
 *   rate of 4 KiB append + fdatasync is printed beside it as the ceiling.
 *
 * Keys are 16 decimal digits, values 100 random (incompressible) bytes; LevelDB runs without
 * compression so both sides do the same work, with a 32 MiB block cache like draft's.
 * Figures: ops_per_s, mb_per_s ((16 + 100) bytes per op), peak_rss_mib (process RSS sampled
 * during the run). Each engine runs in a process of its own (this module again, with
 * `--only`), so a peak is one engine's with its runtime, never the other's leftovers. Ratio
 * rows give draft / leveldb.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ClassicLevel } from "../../dev_deps.ts";
import { NodeFileSystem } from "../../shared/fs/mod.ts";
import { Storage, WriteBatch } from "../../blueprint/storage/mod.ts";
import { BenchReport, type BenchRow, rssMiB } from "./report.ts";
import { seededRandom } from "../../shared/random/mod.ts";
import { yieldToEventLoop } from "../../shared/runtime/mod.ts";

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const BATCH_ENTRIES = 1000;
const DEFAULT_NUM = 1_000_000;
const QUICK_NUM = 50_000;
const MIN_NUM = 1000;
const MAX_NUM = 50_000_000;
const SYNC_DIVISOR = 100;
const RSS_SAMPLE_EVERY_OPS = 1000;
/** Longest a read loop runs without giving the event loop a turn. */
const EVENT_LOOP_TURN_MS = 20;
const CACHE_BYTES = 32 << 20;

/** The operations one engine offers to the benchmark; awaited only where the engine needs it. */
interface Engine {
  readonly impl: "draft" | "leveldb";
  write(keys: Uint8Array[], values: Uint8Array[], sync: boolean): Promise<void>;
  get(key: Uint8Array): Uint8Array | undefined;
  /** Visits every entry; returns the count. */
  scanAll(): Promise<number>;
  /** Positions at the first key >= `key`; true if there is one. */
  seek(key: Uint8Array): boolean | Promise<boolean>;
  /** What the engine says about its own work so far (stalls, shape), for the note column. */
  describe?(): string;
  close(): Promise<void>;
}

type EngineFactory = (dir: string) => Promise<Engine>;

async function openDraft(dir: string): Promise<Engine> {
  // The default block cache is 32 MiB, the size LevelDB is given below.
  const db = await Storage.open(dir);
  // One batch, cleared before each write, as db_bench reuses its WriteBatch: a new one grows its
  // buffer from 64 bytes by doubling, zero-filling about twice the batch's size each time.
  const batch = new WriteBatch();
  return {
    impl: "draft",
    async write(keys, values, sync) {
      batch.clear();
      for (let i = 0; i < keys.length; i++) batch.put(keys[i], values[i]);
      await db.write(batch, { sync });
    },
    get: (key) => db.get(key),
    // The full scan leaves the cache alone on both sides (classic-level's iterators default to
    // fillCache: false); seeks go through the cache, as LevelDB's do when a block is cached.
    scanAll() {
      let count = 0;
      for (const _entry of db.scan({ fill_cache: false })) count++;
      return Promise.resolve(count);
    },
    seek(key) {
      const it = db.scan({ start: key, limit: 1 });
      const found = !it.next().done;
      it.return();
      return found;
    },
    describe() {
      const stats = db.stats();
      const files = stats.levels.map((level) => level.files).join("/");
      const stall_ms = Math.round(stats.write_stall_ms);
      return `since open: ${stats.write_stops} stops, ${stall_ms} ms stalled, files ${files}`;
    },
    close: () => db.close(),
  };
}

async function openLevelDb(dir: string): Promise<Engine> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
    keyEncoding: "view",
    valueEncoding: "view",
    compression: false,
    cacheSize: CACHE_BYTES,
  });
  await db.open();
  let seek_iterator: ReturnType<typeof db.iterator> | null = null;
  return {
    impl: "leveldb",
    async write(keys, values, sync) {
      const batch = db.batch();
      for (let i = 0; i < keys.length; i++) batch.put(keys[i], values[i]);
      await batch.write({ sync });
    },
    get: (key) => db.getSync(key),
    async scanAll() {
      let count = 0;
      const it = db.iterator();
      // nextv is LevelDB's fastest scan from JS: one thread hop per 1,000 entries.
      for (let entries = await it.nextv(1000); entries.length > 0; entries = await it.nextv(1000)) {
        count += entries.length;
      }
      await it.close();
      return count;
    },
    async seek(key) {
      seek_iterator ??= db.iterator();
      seek_iterator.seek(key);
      return (await seek_iterator.next()) !== undefined;
    },
    async close() {
      await seek_iterator?.close();
      await db.close();
    },
  };
}

/** The 10,000 four-digit groups "0000".."9999" as ASCII, 4 bytes each. */
const DIGIT_GROUPS: Uint8Array = (() => {
  const groups = new Uint8Array(4 * 10_000);
  for (let group = 0; group < 10_000; group++) {
    let rest = group;
    for (let i = 3; i >= 0; i--) {
      groups[4 * group + i] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
  }
  return groups;
})();

/** Bytes of the slabs keys are cut from. */
const KEY_SLAB_BYTES = 64 << 10;
let key_slab = new Uint8Array(KEY_SLAB_BYTES);
let key_slab_top = 0;

/**
 * Key `index` (below 10^16) as 16 ASCII digits, in bytes of its own (engines may keep it):
 * a view into a slab that is never written again, four digits at a time from a table, as
 * db_bench's snprintf into a buffer would. A new 16-byte Uint8Array costs about 0.7 us in
 * this runtime and the digit-by-digit loop about 0.3 us more: a third of a sequential
 * fill's time went to the harness's own work.
 */
function makeKey(index: number): Uint8Array {
  if (key_slab_top + KEY_BYTES > KEY_SLAB_BYTES) {
    key_slab = new Uint8Array(KEY_SLAB_BYTES);
    key_slab_top = 0;
  }
  const at = key_slab_top;
  key_slab_top += KEY_BYTES;
  const high = Math.floor(index / 1e8); // both halves below 10^8: int32 arithmetic from here
  const low = index - high * 1e8;
  putDigitGroup(key_slab, at, Math.floor(high / 10_000));
  putDigitGroup(key_slab, at + 4, high % 10_000);
  putDigitGroup(key_slab, at + 8, Math.floor(low / 10_000));
  putDigitGroup(key_slab, at + 12, low % 10_000);
  return key_slab.subarray(at, at + KEY_BYTES);
}

function putDigitGroup(key: Uint8Array, at: number, group: number): void {
  const from = 4 * group;
  key[at] = DIGIT_GROUPS[from];
  key[at + 1] = DIGIT_GROUPS[from + 1];
  key[at + 2] = DIGIT_GROUPS[from + 2];
  key[at + 3] = DIGIT_GROUPS[from + 3];
}

/** Values are windows of a pool of random bytes, as db_bench's RandomGenerator. */
class ValueSource {
  readonly #pool: Uint8Array;
  #offset = 0;

  constructor(random: () => number) {
    this.#pool = new Uint8Array(1 << 20);
    for (let i = 0; i < this.#pool.length; i++) this.#pool[i] = Math.floor(random() * 256);
  }

  next(): Uint8Array {
    if (this.#offset + VALUE_BYTES > this.#pool.length) this.#offset = 0;
    const value = this.#pool.subarray(this.#offset, this.#offset + VALUE_BYTES);
    this.#offset += VALUE_BYTES;
    return value;
  }
}

/** Tracks the peak RSS of a phase by sampling. */
class RssPeak {
  peak_mib = rssMiB();
  sample(): void {
    const now = rssMiB();
    if (now > this.peak_mib) this.peak_mib = now;
  }
}

interface Measured {
  ops: number;
  elapsed_ms: number;
  peak_rss_mib: number;
  note?: string;
}

type KeyOrder = "sequential" | "random";

async function fill(
  engine: Engine,
  num: number,
  order: KeyOrder,
  sync: boolean,
  batch_entries: number,
  seed: number,
): Promise<Measured> {
  const random = seededRandom(seed);
  const values = new ValueSource(seededRandom(seed ^ 0x5bd1e995));
  const rss = new RssPeak();
  const start = performance.now();
  // One batch per pass; num / batch_entries passes.
  for (let done = 0; done < num; done += batch_entries) {
    const count = Math.min(batch_entries, num - done);
    const keys: Uint8Array[] = new Array(count);
    const batch_values: Uint8Array[] = new Array(count);
    for (let i = 0; i < count; i++) {
      keys[i] = makeKey(order === "sequential" ? done + i : Math.floor(random() * num));
      batch_values[i] = values.next();
    }
    await engine.write(keys, batch_values, sync);
    if ((done / batch_entries) % Math.max(1, RSS_SAMPLE_EVERY_OPS / batch_entries) === 0) {
      rss.sample();
    }
  }
  const elapsed_ms = performance.now() - start;
  rss.sample();
  return { ops: num, elapsed_ms, peak_rss_mib: rss.peak_mib, note: engine.describe?.() };
}

/**
 * Gives the event loop a turn when `EVENT_LOOP_TURN_MS` have passed since the last one, as any
 * application serving requests does: the store installs finished background work (flushes,
 * compactions) there, while LevelDB's background thread needs no turn of the JS thread.
 */
class EventLoopTurns {
  #last_ms = performance.now();

  /** Call every few operations; resolves at once unless a turn is due. */
  maybeTurn(): Promise<void> | undefined {
    const now = performance.now();
    if (now - this.#last_ms < EVENT_LOOP_TURN_MS) return undefined;
    this.#last_ms = now;
    return yieldToEventLoop();
  }
}

async function readRandom(
  engine: Engine,
  num: number,
  reads: number,
  seed: number,
): Promise<Measured> {
  const random = seededRandom(seed);
  const rss = new RssPeak();
  const turns = new EventLoopTurns();
  let found = 0;
  const start = performance.now();
  for (let i = 0; i < reads; i++) {
    if (engine.get(makeKey(Math.floor(random() * num))) !== undefined) found++;
    if (i % RSS_SAMPLE_EVERY_OPS === 0) {
      rss.sample();
      await turns.maybeTurn();
    }
  }
  const elapsed_ms = performance.now() - start;
  return {
    ops: reads,
    elapsed_ms,
    peak_rss_mib: rss.peak_mib,
    note: foundNote(engine, found, reads),
  };
}

async function readSeq(engine: Engine): Promise<Measured> {
  const rss = new RssPeak();
  const start = performance.now();
  const count = await engine.scanAll();
  const elapsed_ms = performance.now() - start;
  rss.sample();
  return { ops: count, elapsed_ms, peak_rss_mib: rss.peak_mib };
}

async function seekRandom(
  engine: Engine,
  num: number,
  reads: number,
  seed: number,
): Promise<Measured> {
  const random = seededRandom(seed);
  const rss = new RssPeak();
  const turns = new EventLoopTurns();
  let found = 0;
  const start = performance.now();
  for (let i = 0; i < reads; i++) {
    const hit = engine.seek(makeKey(Math.floor(random() * num)));
    if (typeof hit === "boolean" ? hit : await hit) found++;
    if (i % RSS_SAMPLE_EVERY_OPS === 0) {
      rss.sample();
      await turns.maybeTurn();
    }
  }
  const elapsed_ms = performance.now() - start;
  return {
    ops: reads,
    elapsed_ms,
    peak_rss_mib: rss.peak_mib,
    note: foundNote(engine, found, reads),
  };
}

/** How many reads found their key, and the engine's shape at the end (draft only). */
function foundNote(engine: Engine, found: number, reads: number): string {
  const shape = engine.describe?.();
  return `${found} of ${reads} found` + (shape === undefined ? "" : `; ${shape}`);
}

/** The disk's own durable-append rate: 4 KiB append + fdatasync, `count` times. */
async function diskSyncRate(dir: string, count: number): Promise<Measured> {
  const fs = new NodeFileSystem();
  const file = fs.open(`${dir}/fdatasync_probe`, "create");
  const block = new Uint8Array(4096).fill(7);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    file.append(block);
    await file.sync();
  }
  const elapsed_ms = performance.now() - start;
  file.close();
  return { ops: count, elapsed_ms, peak_rss_mib: rssMiB() };
}

function row(report: BenchReport, bench: string, impl: string, m: Measured, bytes_per_op: number) {
  const seconds = m.elapsed_ms / 1000;
  report.add({
    bench,
    impl,
    ops: m.ops,
    ops_per_s: m.ops / seconds,
    mb_per_s: (m.ops * bytes_per_op) / seconds / (1 << 20),
    peak_rss_mib: m.peak_rss_mib,
    ...(m.note ? { note: m.note } : {}),
  });
}

async function withTempDir<T>(label: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: `bench_storage_${label}_` });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Settings {
  num: number;
  /** Operations of readrandom and seekrandom (keys still drawn from all `num`). */
  reads: number;
  seed: number;
  /** Benchmarks to report (db_bench's --benchmarks). */
  benchmarks: Set<string>;
}

/** Runs the selected benchmarks on one engine, adding rows. */
async function runEngine(
  report: BenchReport,
  open: EngineFactory,
  impl: string,
  { num, reads, seed, benchmarks }: Settings,
): Promise<void> {
  const entry_bytes = KEY_BYTES + VALUE_BYTES;
  const add = (bench: string, measured: Measured) => {
    if (benchmarks.has(bench)) row(report, bench, impl, measured, entry_bytes);
  };
  if (benchmarks.has("fillseq")) {
    await withTempDir(`${impl}_fillseq`, async (dir) => {
      const engine = await open(dir);
      add("fillseq", await fill(engine, num, "sequential", false, BATCH_ENTRIES, seed));
      await engine.close();
    });
  }
  if (RANDOM_DB_BENCHES.some((bench) => benchmarks.has(bench))) {
    await withTempDir(`${impl}_random`, async (dir) => {
      const engine = await open(dir);
      // The reads need a filled database, so fillrandom always runs in this group.
      add("fillrandom", await fill(engine, num, "random", false, BATCH_ENTRIES, seed));
      if (benchmarks.has("overwrite")) {
        add("overwrite", await fill(engine, num, "random", false, BATCH_ENTRIES, seed + 1));
      }
      if (benchmarks.has("readrandom")) {
        add("readrandom", await readRandom(engine, num, reads, seed + 2));
      }
      if (benchmarks.has("readseq")) add("readseq", await readSeq(engine));
      if (benchmarks.has("seekrandom")) {
        add("seekrandom", await seekRandom(engine, num, reads, seed + 3));
      }
      await engine.close();
    });
  }
  if (benchmarks.has("fillsync")) {
    await withTempDir(`${impl}_fillsync`, async (dir) => {
      const engine = await open(dir);
      const count = Math.max(1, Math.floor(num / SYNC_DIVISOR));
      add("fillsync", await fill(engine, count, "random", true, 1, seed + 4));
      await engine.close();
    });
  }
}

const RANDOM_DB_BENCHES = ["fillrandom", "overwrite", "readrandom", "readseq", "seekrandom"];

const BENCHES = [
  "fillseq",
  "fillrandom",
  "overwrite",
  "readrandom",
  "readseq",
  "seekrandom",
  "fillsync",
];

function addRatios(report: BenchReport): void {
  for (const bench of BENCHES) {
    const draft = report.rows.find((r) => r.bench === bench && r.impl === "draft");
    const leveldb = report.rows.find((r) => r.bench === bench && r.impl === "leveldb");
    if (!draft || !leveldb) continue;
    report.add({
      bench,
      impl: "draft/leveldb",
      ops_per_s: (draft.ops_per_s as number) / (leveldb.ops_per_s as number),
      mb_per_s: (draft.mb_per_s as number) / (leveldb.mb_per_s as number),
      peak_rss_mib: (draft.peak_rss_mib as number) / (leveldb.peak_rss_mib as number),
    });
  }
}

function parseSettings(args: string[]): Settings & { json: boolean; only?: string } {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      num: { type: "string" },
      reads: { type: "string" },
      seed: { type: "string", default: "301" },
      only: { type: "string" },
      benchmarks: { type: "string", default: BENCHES.join(",") },
    },
    strict: true,
  });
  const num = values.num === undefined
    ? (values.quick ? QUICK_NUM : DEFAULT_NUM)
    : Number(values.num);
  if (!Number.isInteger(num) || num < MIN_NUM || num > MAX_NUM) {
    throw new RangeError(`--num must be an integer in [${MIN_NUM}, ${MAX_NUM}], got ${values.num}`);
  }
  const reads = values.reads === undefined ? num : Number(values.reads);
  if (!Number.isInteger(reads) || reads < 1 || reads > MAX_NUM) {
    throw new RangeError(`--reads must be an integer in [1, ${MAX_NUM}], got ${values.reads}`);
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) {
    throw new RangeError(`--seed must be an integer, got ${values.seed}`);
  }
  if (values.only !== undefined && values.only !== "draft" && values.only !== "leveldb") {
    throw new RangeError(`--only must be "draft" or "leveldb", got ${values.only}`);
  }
  const benchmarks = new Set(values.benchmarks.split(",").filter((name) => name !== ""));
  for (const name of benchmarks) {
    if (!BENCHES.includes(name)) {
      throw new RangeError(`--benchmarks: unknown "${name}"; choose from ${BENCHES.join(",")}`);
    }
  }
  return { num, reads, seed, benchmarks, json: values.json, only: values.only };
}

/** Runs this suite with `--only impl --json` in a child process and returns its rows. */
async function runEngineProcess(args: string[], impl: string): Promise<BenchRow[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args, "--only", impl, "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  });
  const output = await child.output();
  if (!output.success) {
    throw new Error(`storage bench: the ${impl} process exited with code ${output.code}`);
  }
  const rows: BenchRow[] = [];
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const row = line.startsWith("{") ? JSON.parse(line) as BenchRow : null;
    if (row !== null && row.impl === impl) rows.push(row);
  }
  return rows;
}

/** Runs the storage suite: draft, then LevelDB, then ratio rows and the disk's sync rate. */
export async function run(args: string[]): Promise<void> {
  const settings = parseSettings(args);
  const report = new BenchReport(settings.json);
  if (!settings.json) {
    console.log(
      `storage: ${settings.num} entries of ${KEY_BYTES}+${VALUE_BYTES} bytes, batches of ` +
        `${BATCH_ENTRIES} (unsynced), fillsync ${
          Math.floor(settings.num / SYNC_DIVISOR)
        } synced writes`,
    );
  }
  if (settings.only === "draft") await runEngine(report, openDraft, "draft", settings);
  else if (settings.only === "leveldb") await runEngine(report, openLevelDb, "leveldb", settings);
  else {
    // Each engine in a process of its own, so each peak RSS is that engine's alone.
    for (const impl of ["draft", "leveldb"]) {
      for (const row of await runEngineProcess(args, impl)) report.add(row);
    }
  }
  await withTempDir("disk", async (dir) => {
    const count = Math.max(100, Math.floor(settings.num / SYNC_DIVISOR));
    row(report, "fdatasync_4k", "disk", await diskSyncRate(dir, count), 4096);
  });
  addRatios(report);
  report.finish();
}

if (import.meta.main) await run(Deno.args);
