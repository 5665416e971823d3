import assert from "node:assert/strict";
import { join } from "node:path";
import {
  FaultyFileSystem,
  InjectedFaultError,
  NodeFileSystem,
  seededRng,
} from "../../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "../errors.ts";
import {
  compareBytes,
  compareInternalKeys,
  encodeInternalKey,
  MAX_SEQUENCE,
  sequenceOf,
  typeOf,
  userKeyOf,
  ValueType,
} from "../internal_key.ts";
import {
  BlockCache,
  DEFAULT_TABLE_OPTIONS,
  parseTableFileNumber,
  TableBuilder,
  tableFileName,
  type TableOptions,
  TableReader,
} from "./mod.ts";
import {
  buildTable,
  randomBytes,
  randomEntries,
  type TestEntry,
  testSeed,
  withSeed,
} from "./table_test_helpers.ts";

const seededTestRng = () => seededRng(12345);

const text = (s: string) => new TextEncoder().encode(s);

const LAYOUTS: [string, TableOptions][] = [
  ["default layout", DEFAULT_TABLE_OPTIONS],
  ["small blocks", { block_size_bytes: 128, restart_interval: 4, bloom_bits_per_key: 10 }],
  ["restart every key, no filter", {
    block_size_bytes: 512,
    restart_interval: 1,
    bloom_bits_per_key: 0,
  }],
];

Deno.test("tables round-trip random sorted data through every iterator move", async (t) => {
  const seed = testSeed();
  for (const [name, options] of LAYOUTS) {
    await t.step(name, () =>
      withSeed(seed, async (rng) => {
        const entries = randomEntries(rng, 3000);
        const { reader, meta } = await buildTable(entries, options);
        assert.deepEqual(meta.smallest_key, entries[0].key);
        assert.deepEqual(meta.largest_key, entries[entries.length - 1].key);
        const it = reader.iterator();
        let i = 0;
        for (it.seekToFirst(); it.valid(); it.next(), i++) {
          assert.deepEqual(it.key(), entries[i].key, `forward key ${i}`);
          assert.deepEqual(it.value(), entries[i].value, `forward value ${i}`);
        }
        assert.equal(i, entries.length);
        i = entries.length - 1;
        for (it.seekToLast(); it.valid(); it.prev(), i--) {
          assert.deepEqual(it.key(), entries[i].key, `backward key ${i}`);
          assert.deepEqual(it.value(), entries[i].value, `backward value ${i}`);
        }
        assert.equal(i, -1);
        for (let probe = 0; probe < 400; probe++) {
          const j = Math.floor(rng() * entries.length);
          it.seek(entries[j].key);
          assert.deepEqual(it.key(), entries[j].key, `seek to entry ${j}`);
          const steps = Math.floor(rng() * 40) - 20;
          let at = j;
          for (let s = 0; s < Math.abs(steps) && it.valid(); s++) {
            if (steps > 0) it.next();
            else it.prev();
            at += steps > 0 ? 1 : -1;
          }
          assert.equal(it.valid(), at >= 0 && at < entries.length, `valid after ${steps} steps`);
          if (it.valid()) assert.deepEqual(it.key(), entries[at].key, `${steps} steps from ${j}`);
        }
        // Targets that are not in the table land on the next key.
        for (let probe = 0; probe < 200; probe++) {
          const target = encodeInternalKey(randomBytes(rng, 3, 64), 1 + probe, ValueType.Value);
          it.seek(target);
          const expected = entries.findIndex((e) => compareInternalKeys(e.key, target) >= 0);
          if (expected < 0) assert.equal(it.valid(), false);
          else assert.deepEqual(it.key(), entries[expected].key);
        }
        it.close();
        reader.close();
      }));
  }
});

/** Newest version of `user_key` with sequence <= snapshot, from a sorted entry list. */
function modelGet(entries: TestEntry[], user_key: Uint8Array, snapshot: number) {
  for (const e of entries) {
    if (compareBytes(userKeyOf(e.key), user_key) === 0 && sequenceOf(e.key) <= snapshot) {
      return { type: typeOf(e.key), sequence: sequenceOf(e.key), value: e.value };
    }
  }
  return undefined;
}

Deno.test("get returns the newest entry visible at each snapshot over many versions", async () => {
  await withSeed(testSeed(), async (rng) => {
    const user_keys = Array.from({ length: 12 }, (_, i) => text(`user-${i}`));
    const entries: TestEntry[] = [];
    for (let sequence = 1; sequence <= 600; sequence++) {
      const user_key = user_keys[Math.floor(rng() * user_keys.length)];
      const type = rng() < 0.25 ? ValueType.Deletion : ValueType.Value;
      entries.push({
        key: encodeInternalKey(user_key, sequence, type),
        value: type === ValueType.Value
          ? randomBytes(rng, Math.floor(rng() * 40))
          : new Uint8Array(),
      });
    }
    entries.sort((a, b) => compareInternalKeys(a.key, b.key));
    // Tiny blocks so the versions of one key span many blocks.
    const { reader } = await buildTable(entries, {
      block_size_bytes: 96,
      restart_interval: 3,
      bloom_bits_per_key: 10,
    });
    for (const user_key of user_keys) {
      for (const snapshot of [0, 1, 2, 50, 299, 300, 301, 599, 600, 601, MAX_SEQUENCE]) {
        assert.deepEqual(
          reader.get(user_key, snapshot),
          modelGet(entries, user_key, snapshot),
          `get ${new TextDecoder().decode(user_key)} at ${snapshot}`,
        );
      }
      for (let s = 0; s < 20; s++) {
        const snapshot = Math.floor(rng() * 620);
        assert.deepEqual(reader.get(user_key, snapshot), modelGet(entries, user_key, snapshot));
      }
    }
    for (const absent of ["user-", "user-1x", "user-99", "", "zzz"]) {
      assert.equal(reader.get(text(absent), MAX_SEQUENCE), undefined, `absent ${absent}`);
    }
  });
});

Deno.test("get finds every key of a large random table and rejects bad snapshots", async () => {
  await withSeed(testSeed(), async (rng) => {
    const entries = randomEntries(rng, 5000);
    const { reader, cache } = await buildTable(entries);
    for (let j = 0; j < entries.length; j++) {
      const user_key = userKeyOf(entries[j].key);
      if (j > 0 && compareBytes(userKeyOf(entries[j - 1].key), user_key) === 0) continue;
      const found = reader.get(user_key, MAX_SEQUENCE);
      assert.deepEqual(found, {
        type: typeOf(entries[j].key),
        sequence: sequenceOf(entries[j].key),
        value: entries[j].value,
      });
      assert.ok(reader.mayContain(user_key));
    }
    assert.ok(cache.hits > 0 && cache.misses > 0, "blocks are cached across gets");
    assert.throws(() => reader.get(text("a"), -1), /snapshot_sequence must be an integer/);
    assert.throws(() => reader.get(text("a"), MAX_SEQUENCE + 1), StorageError);
  });
});

Deno.test("the bloom filter keeps most absent keys away from data blocks", async () => {
  const entries: TestEntry[] = [];
  for (let i = 0; i < 2000; i++) {
    entries.push({
      key: encodeInternalKey(text(`k${i}`), i + 1, ValueType.Value),
      value: text("v"),
    });
  }
  entries.sort((a, b) => compareInternalKeys(a.key, b.key));
  const { reader, cache } = await buildTable(entries);
  const lookups_before = cache.misses + cache.hits;
  let admitted = 0;
  for (let i = 0; i < 2000; i++) {
    if (reader.mayContain(text(`absent${i}`))) admitted++;
    assert.equal(reader.get(text(`absent${i}`), MAX_SEQUENCE), undefined);
  }
  assert.ok(admitted < 60, `${admitted} of 2000 absent keys passed the filter`);
  assert.equal(
    cache.misses + cache.hits - lookups_before,
    admitted,
    "only admitted keys read blocks",
  );
});

Deno.test("one flipped byte anywhere in a table is a CorruptionError naming it, never a wrong value", async () => {
  await withSeed(testSeed(), async (rng) => {
    const entries = randomEntries(rng, 40).map((e) => ({ ...e, value: e.value.subarray(0, 30) }));
    const { fs, path, meta } = await buildTable(entries, {
      block_size_bytes: 256,
      restart_interval: 4,
      bloom_bits_per_key: 10,
    });
    let detected = 0;
    for (let offset = 0; offset < meta.size_bytes; offset++) {
      fs.flipByte(path, offset);
      try {
        const reader = TableReader.open(fs, path, 7, meta.size_bytes, new BlockCache(1 << 20));
        const it = reader.iterator();
        let i = 0;
        for (it.seekToFirst(); it.valid(); it.next(), i++) {
          assert.deepEqual(it.key(), entries[i].key, `flip at ${offset}: key ${i}`);
          assert.deepEqual(it.value(), entries[i].value, `flip at ${offset}: value ${i}`);
        }
        assert.equal(i, entries.length, `flip at ${offset}: entry count`);
        it.close();
        for (const e of entries) {
          const found = reader.get(userKeyOf(e.key), sequenceOf(e.key));
          assert.deepEqual(found?.value, e.value, `flip at ${offset}: get`);
        }
        reader.close();
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        assert.equal(err.path, path, `flip at ${offset}`);
        assert.ok(err.message.includes(path), err.message);
        detected++;
      }
      fs.flipByte(path, offset); // flipping all bits again restores the byte
    }
    // The format has no padding or unused bytes: every flip must be caught.
    assert.equal(detected, meta.size_bytes);
  });
});

Deno.test("a truncated or mis-sized table file is a CorruptionError", async () => {
  const entries = [{ key: encodeInternalKey(text("a"), 1, ValueType.Value), value: text("1") }];
  const { fs, path, meta } = await buildTable(entries);
  const cache = new BlockCache(1024);
  assert.throws(() => TableReader.open(fs, path, 7, 10, cache), CorruptionError);
  assert.throws(() => TableReader.open(fs, path, 7, meta.size_bytes + 1, cache), CorruptionError);
  assert.throws(() => TableReader.open(fs, path, 7, meta.size_bytes - 1, cache), CorruptionError);
  fs.mkdir("/other");
  const junk = fs.open("/other/000001.sst", "create");
  junk.append(new Uint8Array(100).fill(7));
  assert.throws(
    () => TableReader.open(fs, "/other/000001.sst", 1, 100, cache),
    /\/other\/000001\.sst at offset 52: bad table magic/,
  );
});

Deno.test("the builder enforces order and its life cycle", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const builder = new TableBuilder(fs, "/db/000003.sst", DEFAULT_TABLE_OPTIONS);
  await assert.rejects(() => builder.finish(), /no entries/);
  const b = encodeInternalKey(text("b"), 5, ValueType.Value);
  builder.add(b, text("x"));
  assert.throws(
    () => builder.add(encodeInternalKey(text("a"), 9, ValueType.Value), text("y")),
    /increasing internal order; "a"@9:value does not follow "b"@5:value/,
  );
  assert.throws(() => builder.add(b, text("again")), StorageError);
  assert.throws(() => builder.add(new Uint8Array(3), text("y")), /internal key of 3 bytes/);
  builder.add(encodeInternalKey(text("b"), 4, ValueType.Deletion), new Uint8Array());
  assert.equal(builder.entryCount(), 2);
  assert.ok(builder.estimatedSizeBytes() > 0);
  const meta = await builder.finish();
  assert.equal(meta.file_number, 3);
  assert.equal(meta.size_bytes, fs.readFile("/db/000003.sst").length);
  assert.throws(() => builder.add(b, text("late")), /add after finished/);
  const abandoned = new TableBuilder(fs, "/db/000004.sst", DEFAULT_TABLE_OPTIONS);
  abandoned.add(b, text("x"));
  abandoned.abandon();
  assert.equal(fs.exists("/db/000004.sst"), false);
});

Deno.test("addRange reads entries in place and writes the same table as add", async () => {
  await withSeed(testSeed(), async (rng) => {
    const entries = randomEntries(rng, 3000);
    const { fs, path } = await buildTable(entries);
    // Every key and value packed into one array at odd offsets, as in a memtable arena.
    const packed = new Uint8Array(
      entries.reduce((sum, e) => sum + e.key.length + e.value.length + 3, 1),
    );
    const at: number[] = [];
    let offset = 1;
    for (const { key, value } of entries) {
      at.push(offset);
      packed.set(key, offset);
      packed.set(value, offset + key.length + 1);
      offset += key.length + value.length + 3;
    }
    const builder = new TableBuilder(fs, "/db/000008.sst", DEFAULT_TABLE_OPTIONS);
    entries.forEach(({ key, value }, i) =>
      builder.addRange(packed, at[i], key.length, packed, at[i] + key.length + 1, value.length)
    );
    await builder.finish();
    assert.deepEqual(fs.readFile("/db/000008.sst"), fs.readFile(path));
    const first = entries[0];
    assert.throws(
      () => builder.addRange(packed, at[0], first.key.length, packed, 0, 0),
      /add after finished/,
    );
    const late = new TableBuilder(fs, "/db/000009.sst", DEFAULT_TABLE_OPTIONS);
    late.addRange(packed, at[1], entries[1].key.length, packed, 0, 0);
    assert.throws(
      () => late.addRange(packed, at[0], first.key.length, packed, 0, 0),
      /increasing internal order/,
    );
    late.abandon();
  });
});

Deno.test("finish syncs the table: it survives a crash once its directory entry is synced", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const builder = new TableBuilder(fs, "/db/000009.sst", DEFAULT_TABLE_OPTIONS);
  builder.add(encodeInternalKey(text("k"), 1, ValueType.Value), text("v"));
  const meta = await builder.finish();
  await fs.syncDir("/db");
  assert.equal(fs.counters.syncs, 1);
  fs.crash(() => 0.5);
  const reader = TableReader.open(fs, "/db/000009.sst", 9, meta.size_bytes, new BlockCache(1024));
  assert.deepEqual(reader.get(text("k"), 1)?.value, text("v"));
});

Deno.test("options, file names and arguments are validated with clear errors", () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const bad = (options: Partial<TableOptions>) => ({ ...DEFAULT_TABLE_OPTIONS, ...options });
  assert.throws(
    () => new TableBuilder(fs, "/db/000001.sst", bad({ block_size_bytes: 10 })),
    /block_size_bytes/,
  );
  assert.throws(
    () => new TableBuilder(fs, "/db/000001.sst", bad({ restart_interval: 0 })),
    /restart_interval/,
  );
  assert.throws(
    () => new TableBuilder(fs, "/db/000001.sst", bad({ bloom_bits_per_key: -1 })),
    /bloom_bits_per_key/,
  );
  assert.throws(
    () => new TableBuilder(fs, "/db/table.sst", DEFAULT_TABLE_OPTIONS),
    /digits and "\.sst"/,
  );
  assert.equal(tableFileName(42), "000042.sst");
  assert.equal(tableFileName(1234567), "1234567.sst");
  assert.equal(parseTableFileNumber("/db/000042.sst"), 42);
  assert.throws(
    () => TableReader.open(fs, "/db/000001.sst", -1, 100, new BlockCache(0)),
    /file_number/,
  );
});

Deno.test("an iterator with fill_cache false reads blocks without caching them", async () => {
  const many: TestEntry[] = [];
  for (let i = 0; i < 500; i++) {
    many.push({
      key: encodeInternalKey(text(`k${1000 + i}`), 1, ValueType.Value),
      value: text("v".repeat(50)),
    });
  }
  const { reader, cache } = await buildTable(many);
  const it = reader.iterator({ fill_cache: false });
  let count = 0;
  for (it.seekToFirst(); it.valid(); it.next()) count++;
  it.close();
  assert.equal(count, many.length);
  assert.equal(cache.entryCount(), 0);
  const filling = reader.iterator();
  for (filling.seekToFirst(); filling.valid(); filling.next()) count++;
  filling.close();
  assert.ok(cache.entryCount() > 1);
});

Deno.test("a reader closes its file only after its iterators are closed", async () => {
  const entries = [{ key: encodeInternalKey(text("a"), 1, ValueType.Value), value: text("1") }];
  const { reader } = await buildTable(entries);
  const it = reader.iterator();
  reader.close();
  assert.throws(() => reader.get(text("a"), 1), /get after close/);
  it.seekToFirst();
  assert.deepEqual(it.value(), text("1"));
  it.close();
  assert.throws(() => it.seekToFirst(), /after close/);
});

Deno.test("a finish that fails to sync can be abandoned, removing the file", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const builder = new TableBuilder(fs, "/db/000005.sst", DEFAULT_TABLE_OPTIONS);
  builder.add(encodeInternalKey(text("k"), 1, ValueType.Value), text("v"));
  fs.failAfter(1); // the append of the staged bytes succeeds, the sync fails
  await assert.rejects(() => builder.finish(), InjectedFaultError);
  fs.clearFault();
  builder.abandon();
  assert.equal(fs.exists("/db/000005.sst"), false);
});

Deno.test("tables round-trip on the real disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "table_test_" });
  try {
    const fs = new NodeFileSystem();
    const path = join(dir, tableFileName(12));
    const entries = randomEntries(seededTestRng(), 2000);
    const builder = new TableBuilder(fs, path, DEFAULT_TABLE_OPTIONS);
    for (const { key, value } of entries) builder.add(key, value);
    const meta = await builder.finish();
    assert.equal(meta.size_bytes, Deno.statSync(path).size);
    const reader = TableReader.open(fs, path, 12, meta.size_bytes, new BlockCache(1 << 20));
    const it = reader.iterator();
    let i = 0;
    for (it.seekToFirst(); it.valid(); it.next(), i++) {
      assert.deepEqual(it.key(), entries[i].key);
      assert.deepEqual(it.value(), entries[i].value);
    }
    assert.equal(i, entries.length);
    it.close();
    reader.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("iterators opened after others closed do not share state with open ones", async () => {
  const seed = testSeed();
  await withSeed(seed, async (rng) => {
    const entries = randomEntries(rng, 2000);
    const { reader } = await buildTable(entries, LAYOUTS[1][1]);
    const at = (i: number) => entries[i % entries.length];
    const open: { it: ReturnType<TableReader["iterator"]>; index: number }[] = [];
    // Open, move and close iterators in an interleaved order: each open one must stay where
    // it was put while closed ones' block iterators are handed to new ones.
    for (let round = 0; round < 60; round++) {
      if (open.length > 0 && rng() < 0.45) {
        const victim = open.splice(Math.floor(rng() * open.length), 1)[0];
        victim.it.close();
        assert.equal(victim.it.valid(), false);
        assert.throws(() => victim.it.next(), /after close/);
      }
      const index = Math.floor(rng() * entries.length);
      const it = reader.iterator({ fill_cache: rng() < 0.5 });
      it.seek(at(index).key);
      open.push({ it, index });
      for (const entry of open) {
        assert.deepEqual(entry.it.key(), at(entry.index).key);
        assert.deepEqual(entry.it.value(), at(entry.index).value);
        if (entry.index + 1 < entries.length && rng() < 0.5) {
          entry.it.next();
          entry.index++;
          assert.deepEqual(entry.it.key(), at(entry.index).key);
        }
      }
    }
    for (const entry of open) entry.it.close();
  });
});
