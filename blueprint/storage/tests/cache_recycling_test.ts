/**
 * Recycled cache slabs never show a reader a wrong byte: with a cache far smaller than the
 * data, gets recycle slabs constantly while scans stay open across them.
 */
import assert from "node:assert/strict";
import { Storage, WriteBatch } from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const key = (i: number) => encoder.encode(`key-${String(i).padStart(6, "0")}`);
/** A value that names its key, so any byte from another block shows. */
const value = (i: number) => encoder.encode(`value-of-${i}-`.repeat(4));

/** Writes keys 0..count-1 in batches, then compacts: every entry in tables, read through the cache. */
async function fillCompacted(db: Storage, count: number): Promise<void> {
  for (let start = 0; start < count; start += 1000) {
    const batch = new WriteBatch();
    for (let i = start; i < Math.min(count, start + 1000); i++) batch.put(key(i), value(i));
    await db.write(batch);
  }
  await db.compactRange();
}

const COUNT = 20_000;

/**
 * Runs `body` on a store of COUNT compacted entries whose cache (64 KiB) is far smaller than the
 * data, with a seeded generator of keys to read.
 */
async function withSmallCache(
  seed: number,
  body: (db: Storage, next: () => number) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cache_recycling_" });
  const db = await Storage.open(dir, {
    block_cache_bytes: 64 << 10,
    memtable_size_bytes: 256 << 10,
  });
  try {
    await fillCompacted(db, COUNT);
    let state = seed;
    body(db, () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) % COUNT);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("storage: gets and open scans stay correct while cache slabs are recycled", async () => {
  await withSmallCache(7, (db, next) => {
    const scan = db.scan({ start: key(0) })[Symbol.iterator]();
    let scanned = 0;
    for (let round = 0; round < 200; round++) {
      // A stretch of the open scan, then enough random gets to cycle the cache many times.
      for (let step = 0; step < 50; step++) {
        const entry = scan.next();
        assert.ok(!entry.done);
        assert.equal(decoder.decode(entry.value.key), decoder.decode(key(scanned)));
        assert.equal(decoder.decode(entry.value.value), decoder.decode(value(scanned)));
        scanned++;
      }
      for (let get = 0; get < 100; get++) {
        const i = next();
        assert.equal(decoder.decode(db.get(key(i))), decoder.decode(value(i)), `key ${i}`);
      }
    }
    scan.return?.();
    // The scan is closed: now gets recycle slabs, and still read right.
    for (let get = 0; get < 20_000; get++) {
      const i = next();
      assert.equal(decoder.decode(db.get(key(i))), decoder.decode(value(i)), `key ${i}`);
    }
    const stats = db.stats();
    assert.ok(stats.cache_slabs_recycled > 100, `${stats.cache_slabs_recycled} slabs recycled`);
  });
});

Deno.test("storage: short scans alone recycle cache slabs and read right", async () => {
  await withSmallCache(11, (db, next) => {
    // Seeks as db_bench's seekrandom does them: a scan from a key, one entry, closed.
    for (let seek = 0; seek < 20_000; seek++) {
      const i = next();
      const entries = [...db.scan({ start: key(i), limit: 2 })];
      assert.equal(decoder.decode(entries[0].key), decoder.decode(key(i)));
      assert.equal(decoder.decode(entries[0].value), decoder.decode(value(i)), `key ${i}`);
      if (i + 1 < COUNT) {
        assert.equal(decoder.decode(entries[1].value), decoder.decode(value(i + 1)));
      }
    }
    const stats = db.stats();
    assert.ok(stats.cache_slabs_recycled > 100, `${stats.cache_slabs_recycled} slabs recycled`);
  });
});

Deno.test("storage: a scan with fill_cache: false reads right and leaves the cache empty", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache_fill_" });
  const ENTRIES = 5_000;
  try {
    const writer = await Storage.open(dir, { memtable_size_bytes: 64 << 10 });
    await fillCompacted(writer, ENTRIES);
    await writer.close();
    const db = await Storage.open(dir);
    try {
      for (const reverse of [false, true]) {
        const got = [...db.scan({ fill_cache: false, reverse })];
        assert.equal(got.length, ENTRIES);
        got.forEach((entry, n) => {
          const i = reverse ? ENTRIES - 1 - n : n;
          assert.equal(decoder.decode(entry.key), decoder.decode(key(i)));
          assert.equal(decoder.decode(entry.value), decoder.decode(value(i)));
        });
      }
      assert.equal(db.stats().cache_bytes, 0, "nothing cached by the uncached scans");
      assert.equal([...db.scan()].length, ENTRIES);
      assert.ok(db.stats().cache_bytes > 0, "a default scan fills the cache");
    } finally {
      await db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
