import assert from "node:assert/strict";
import { fc } from "../../../dev_deps.ts";
import { FaultyFileSystem, seededRng } from "../../../shared/fs/mod.ts";
import {
  compareBytes,
  compareInternalKeys,
  encodeInternalKey,
  sequenceOf,
  typeOf,
  userKeyOf,
  ValueType,
} from "../internal_key.ts";
import type { InternalIterator } from "../iterator.ts";
import type { TableFileMeta } from "../manifest.ts";
import {
  BlockCache,
  DEFAULT_TABLE_OPTIONS,
  TableBuilder,
  type TableOptions,
  TableReader,
} from "../table/mod.ts";
import type { CompactionJob } from "./background_executor.ts";
import type { CompactionPlan } from "./compaction_picker.ts";
import { runCompactionJob, runFlushJob, tableFilePath, VersionFilter } from "./compaction_job.ts";

const DIR = "/db";
const text = new TextEncoder();
const SMALL_TABLES: TableOptions = { ...DEFAULT_TABLE_OPTIONS, block_size_bytes: 256 };

interface Entry {
  key: Uint8Array; // internal key
  value: Uint8Array;
}

function entry(user_key: string, sequence: number, type: ValueType, value = ""): Entry {
  return {
    key: encodeInternalKey(text.encode(user_key), sequence, type),
    value: text.encode(value),
  };
}

function sortEntries(entries: Entry[]): Entry[] {
  return [...entries].sort((a, b) => compareInternalKeys(a.key, b.key));
}

/** An iterator over sorted in-memory entries (forward only is all the jobs use). */
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
    this.#index = this.entries.findIndex((e) => compareInternalKeys(e.key, target) >= 0);
    if (this.#index < 0) this.#index = this.entries.length;
  }
  next(): void {
    this.#index++;
  }
  prev(): void {
    this.#index--;
    if (this.#index < 0) this.#index = this.entries.length;
  }
  key(): Uint8Array {
    return this.entries[this.#index].key;
  }
  value(): Uint8Array {
    return this.entries[this.#index].value;
  }
  close(): void {}
}

async function writeTable(
  fs: FaultyFileSystem,
  file_number: number,
  entries: Entry[],
): Promise<TableFileMeta> {
  const builder = new TableBuilder(fs, tableFilePath(DIR, file_number), SMALL_TABLES);
  for (const e of sortEntries(entries)) builder.add(e.key, e.value);
  return await builder.finish();
}

function readTable(fs: FaultyFileSystem, meta: TableFileMeta): Entry[] {
  const reader = TableReader.open(
    fs,
    tableFilePath(DIR, meta.file_number),
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

function plan(inputs: TableFileMeta[], overrides: Partial<CompactionPlan> = {}): CompactionPlan {
  return {
    level: 0,
    inputs,
    next_inputs: [],
    output_level: 1,
    bottommost: true,
    grandparents: [],
    compact_pointer: inputs[0]?.largest_key ?? new Uint8Array(8),
    trivial_move: false,
    ...overrides,
  };
}

function fileNumbers(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/**
 * The rule stated declaratively: per user key, keep every version newer than the smallest
 * snapshot and the newest version at or below it, except that tombstone when bottommost.
 */
function expectedOutput(entries: Entry[], smallest_snapshot: number, bottommost: boolean): Entry[] {
  const kept: Entry[] = [];
  const sorted = sortEntries(entries);
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i];
    const newer_same_key =
      i > 0 && compareBytes(userKeyOf(sorted[i - 1].key), userKeyOf(e.key)) === 0
        ? sorted[i - 1]
        : undefined;
    const sequence = sequenceOf(e.key);
    if (sequence > smallest_snapshot) {
      kept.push(e);
      continue;
    }
    const is_newest_visible = newer_same_key === undefined ||
      sequenceOf(newer_same_key.key) > smallest_snapshot;
    if (!is_newest_visible) continue;
    if (typeOf(e.key) === ValueType.Deletion && bottommost) continue;
    kept.push(e);
  }
  return kept;
}

/** What a reader at `snapshot` sees for each user key (absent and deleted look the same). */
function visibleAt(entries: Entry[], snapshot: number): Map<string, string> {
  const seen = new Map<string, string | null>();
  for (const e of sortEntries(entries)) {
    const user = new TextDecoder().decode(userKeyOf(e.key));
    if (seen.has(user) || sequenceOf(e.key) > snapshot) continue;
    seen.set(user, typeOf(e.key) === ValueType.Value ? new TextDecoder().decode(e.value) : null);
  }
  const visible = new Map<string, string>();
  for (const [k, v] of seen) if (v !== null) visible.set(k, v);
  return visible;
}

const SEED = Number(Deno.env.get("COMPACTION_TEST_SEED") ?? 20261126);

/** One random write: its user key's number, whether it deletes, and the input file it goes to. */
interface RandomOp {
  key: number;
  deletion: boolean;
  file: number;
  value_length?: number;
}

/**
 * The ops as entries (sequence = position + 1) and the input tables they were written to
 * (files 10, 11, ... in op-file order; an input with no op is skipped).
 */
async function writeInputs(
  fs: FaultyFileSystem,
  ops: RandomOp[],
  file_count: number,
): Promise<{ all: Entry[]; inputs: TableFileMeta[] }> {
  const all: Entry[] = ops.map((o, i) =>
    entry(
      `key${String(o.key).padStart(2, "0")}`,
      i + 1,
      o.deletion ? ValueType.Deletion : ValueType.Value,
      o.deletion ? "" : `v${i}`.padEnd(o.value_length ?? 0, "x"),
    )
  );
  const inputs: TableFileMeta[] = [];
  for (let f = 0; f < file_count; f++) {
    const mine = all.filter((_, i) => ops[i].file === f);
    if (mine.length > 0) inputs.push(await writeTable(fs, 10 + f, mine));
  }
  return { all, inputs };
}

Deno.test("runCompactionJob: output matches the version-dropping model (seeded)", async () => {
  const op = fc.record({
    key: fc.integer({ min: 0, max: 15 }),
    deletion: fc.boolean(),
    value_length: fc.integer({ min: 0, max: 40 }),
    file: fc.integer({ min: 0, max: 4 }),
  });
  const scenario = fc.record({
    ops: fc.array(op, { minLength: 1, maxLength: 150 }),
    snapshot_fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    bottommost: fc.boolean(),
    target_file_size_bytes: fc.integer({ min: 200, max: 3000 }),
  });
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const fs = new FaultyFileSystem();
      fs.mkdir(DIR);
      const { all, inputs } = await writeInputs(fs, s.ops, 5);
      const smallest_snapshot = Math.floor(s.snapshot_fraction * all.length);
      const job: CompactionJob = {
        plan: plan(inputs, { bottommost: s.bottommost }),
        smallest_snapshot_sequence: smallest_snapshot,
        output_file_numbers: fileNumbers(100, 200),
      };
      const outputs = await runCompactionJob(fs, DIR, job, SMALL_TABLES, new BlockCache(1 << 20), {
        target_file_size_bytes: s.target_file_size_bytes,
        max_grandparent_overlap_bytes: 1 << 30,
      });
      fs.crash(seededRng(1)); // whatever the job returned must have been synced
      const written = outputs.flatMap((meta) => readTable(fs, meta));
      assert.deepEqual(
        written.map((e) => [e.key, e.value]),
        expectedOutput(all, smallest_snapshot, s.bottommost).map((e) => [e.key, e.value]),
      );
      for (let snapshot = smallest_snapshot; snapshot <= all.length; snapshot++) {
        assert.deepEqual(visibleAt(written, snapshot), visibleAt(all, snapshot));
      }
      checkOutputsAreSortedAndDisjoint(fs, outputs, job.output_file_numbers);
    }),
    { seed: SEED, numRuns: 120 },
  );
});

function checkOutputsAreSortedAndDisjoint(
  fs: FaultyFileSystem,
  outputs: TableFileMeta[],
  numbers: number[],
): void {
  assert.deepEqual(outputs.map((m) => m.file_number), numbers.slice(0, outputs.length));
  for (let i = 0; i < outputs.length; i++) {
    const entries = readTable(fs, outputs[i]);
    assert.ok(entries.length > 0, "no empty output");
    assert.deepEqual(outputs[i].smallest_key, entries[0].key);
    assert.deepEqual(outputs[i].largest_key, entries[entries.length - 1].key);
    if (i > 0) {
      assert.ok(
        compareBytes(userKeyOf(outputs[i - 1].largest_key), userKeyOf(outputs[i].smallest_key)) <
          0,
        "a user key must not span two outputs",
      );
    }
  }
}

Deno.test("runCompactionJob: a snapshot keeps the versions it reads", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir(DIR);
  const newer = await writeTable(fs, 2, [
    entry("a", 9, ValueType.Value, "a9"),
    entry("b", 8, ValueType.Deletion),
  ]);
  const older = await writeTable(fs, 1, [
    entry("a", 5, ValueType.Value, "a5"),
    entry("a", 3, ValueType.Value, "a3"),
    entry("b", 2, ValueType.Value, "b2"),
    entry("c", 1, ValueType.Deletion),
  ]);
  const run = (snapshot: number, bottommost: boolean) =>
    runCompactionJob(
      fs,
      DIR,
      {
        plan: plan([older, newer], { bottommost }),
        smallest_snapshot_sequence: snapshot,
        output_file_numbers: fileNumbers(snapshot * 10 + (bottommost ? 1 : 0) + 100, 3),
      },
      SMALL_TABLES,
      new BlockCache(1 << 20),
    );
  const describe = (outputs: TableFileMeta[]) =>
    outputs.flatMap((m) => readTable(fs, m)).map((e) =>
      `${new TextDecoder().decode(userKeyOf(e.key))}@${sequenceOf(e.key)}`
    );
  // No snapshot older than the writes: only the newest versions; tombstones vanish at the bottom.
  assert.deepEqual(describe(await run(9, true)), ["a@9"]);
  assert.deepEqual(describe(await run(9, false)), ["a@9", "b@8", "c@1"]);
  // A snapshot at 4 still reads a@3 and b@2.
  assert.deepEqual(describe(await run(4, true)), ["a@9", "a@5", "a@3", "b@8", "b@2"]);
});

Deno.test("runCompactionJob: outputs are cut at the target size and at grandparent overlap", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir(DIR);
  const entries = Array.from(
    { length: 400 },
    (_, i) => entry(`k${String(i).padStart(4, "0")}`, i + 1, ValueType.Value, "v".repeat(50)),
  );
  const input = await writeTable(fs, 1, entries);
  const by_size = await runCompactionJob(
    fs,
    DIR,
    {
      plan: plan([input]),
      smallest_snapshot_sequence: 1000,
      output_file_numbers: fileNumbers(10, 100),
    },
    SMALL_TABLES,
    new BlockCache(1 << 20),
    {
      target_file_size_bytes: 4096,
      max_grandparent_overlap_bytes: 1 << 30,
    },
  );
  assert.ok(by_size.length >= 4, `expected several outputs, got ${by_size.length}`);
  for (const meta of by_size.slice(0, -1)) assert.ok(meta.size_bytes >= 4096);
  // Grandparents of 1000 bytes every 20 keys: with a 2500-byte limit an output stops once it
  // has passed three of them (3000 > 2500), so each output holds 60 keys.
  const grandparents: TableFileMeta[] = Array.from({ length: 20 }, (_, g) => ({
    file_number: 500 + g,
    size_bytes: 1000,
    smallest_key: entries[g * 20].key,
    largest_key: entries[g * 20 + 19].key,
  }));
  const by_overlap = await runCompactionJob(
    fs,
    DIR,
    {
      plan: plan([input], { grandparents }),
      smallest_snapshot_sequence: 1000,
      output_file_numbers: fileNumbers(200, 100),
    },
    SMALL_TABLES,
    new BlockCache(1 << 20),
    {
      target_file_size_bytes: 1 << 30,
      max_grandparent_overlap_bytes: 2500,
    },
  );
  assert.deepEqual(
    by_overlap.map((m) => readTable(fs, m).length),
    [60, 60, 60, 60, 60, 60, 40],
  );
  assert.deepEqual(by_overlap.flatMap((m) => readTable(fs, m)), sortEntries(entries));
});

Deno.test("runCompactionJob: running out of output numbers fails and leaves no outputs", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir(DIR);
  const entries = Array.from(
    { length: 200 },
    (_, i) => entry(`k${String(i).padStart(4, "0")}`, i + 1, ValueType.Value, "v".repeat(50)),
  );
  const input = await writeTable(fs, 1, entries);
  await assert.rejects(
    runCompactionJob(
      fs,
      DIR,
      {
        plan: plan([input]),
        smallest_snapshot_sequence: 1000,
        output_file_numbers: [7, 8],
      },
      SMALL_TABLES,
      new BlockCache(1 << 20),
      {
        target_file_size_bytes: 2048,
        max_grandparent_overlap_bytes: 1 << 30,
      },
    ),
    /more than the 2 pre-allocated output file numbers/,
  );
  assert.deepEqual(fs.list(DIR), ["000001.sst"]);
  await assert.rejects(
    runCompactionJob(
      fs,
      DIR,
      {
        plan: plan([]),
        smallest_snapshot_sequence: 1,
        output_file_numbers: [7],
      },
      SMALL_TABLES,
      new BlockCache(1 << 20),
    ),
    /no input files/,
  );
});

Deno.test("runFlushJob: writes the memtable's entries as one synced table", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir(DIR);
  const entries = sortEntries([
    entry("b", 3, ValueType.Value, "b3"),
    entry("b", 2, ValueType.Deletion),
    entry("a", 1, ValueType.Value, "a1"),
  ]);
  const meta = await runFlushJob(fs, DIR, 12, new ArrayIterator(entries), SMALL_TABLES);
  assert.equal(meta.file_number, 12);
  fs.crash(seededRng(2));
  assert.deepEqual(readTable(fs, meta), entries, "flush keeps every version, tombstones too");
  await assert.rejects(
    runFlushJob(fs, DIR, 13, new ArrayIterator([]), SMALL_TABLES),
    /no entries/,
  );
  assert.equal(fs.exists(tableFilePath(DIR, 13)), false);
});

Deno.test("VersionFilter: hidden versions go, versions a snapshot reads stay", () => {
  const filter = new VersionFilter(5, true);
  const keep = (user_key: string, sequence: number, type = ValueType.Value) =>
    filter.keep(encodeInternalKey(text.encode(user_key), sequence, type));
  assert.equal(keep("a", 7), true); // newer than every snapshot
  assert.equal(keep("a", 5), true); // newest visible at 5
  assert.equal(keep("a", 4), false); // hidden by a@5 for every reader
  assert.equal(keep("b", 3, ValueType.Deletion), false); // tombstone at the bottom
  assert.equal(keep("b", 2), false); // hidden by the tombstone
  assert.equal(keep("c", 6, ValueType.Deletion), true); // a snapshot at 5 still needs c's past
  assert.equal(keep("c", 4), true);
});

Deno.test("runCompactionJob: parts split at user keys write what one job writes", async () => {
  const scenario = fc.record({
    ops: fc.array(
      fc.record({
        key: fc.integer({ min: 0, max: 15 }),
        deletion: fc.boolean(),
        file: fc.integer({ min: 0, max: 3 }),
      }),
      { minLength: 1, maxLength: 120 },
    ),
    cuts: fc.uniqueArray(fc.integer({ min: 0, max: 16 }), { maxLength: 3 }),
    snapshot_fraction: fc.double({ min: 0, max: 1, noNaN: true }),
  });
  const user = (k: number) => new TextEncoder().encode(`key${String(k).padStart(2, "0")}`);
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const fs = new FaultyFileSystem();
      fs.mkdir(DIR);
      const { all, inputs } = await writeInputs(fs, s.ops, 4);
      const smallest_snapshot = Math.floor(s.snapshot_fraction * all.length);
      const limits = { target_file_size_bytes: 300, max_grandparent_overlap_bytes: 1 << 30 };
      const run = (first_number: number, range?: { start?: Uint8Array; end?: Uint8Array }) =>
        runCompactionJob(
          fs,
          DIR,
          {
            plan: plan(inputs),
            smallest_snapshot_sequence: smallest_snapshot,
            output_file_numbers: fileNumbers(first_number, 100),
            ...(range ? { range } : {}),
          },
          SMALL_TABLES,
          new BlockCache(1 << 20),
          limits,
        );
      const whole = (await run(1000)).flatMap((meta) => readTable(fs, meta));
      const cuts = [...s.cuts].sort((a, b) => a - b).map(user);
      const bounds = [undefined, ...cuts, undefined];
      const parts: Entry[] = [];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const outputs = await run(2000 + i * 100, { start: bounds[i], end: bounds[i + 1] });
        parts.push(...outputs.flatMap((meta) => readTable(fs, meta)));
      }
      assert.deepEqual(parts.map((e) => [e.key, e.value]), whole.map((e) => [e.key, e.value]));
    }),
    { seed: SEED, numRuns: 80 },
  );
});
