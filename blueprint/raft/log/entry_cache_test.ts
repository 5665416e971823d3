import assert from "node:assert/strict";
import { type Entry, EntryType } from "../core/mod.ts";
import { CACHED_ENTRY_OVERHEAD_BYTES, EntryCache } from "./entry_cache.ts";

function entries(lo: number, hi: number, size = 40): Entry[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => ({
    index: lo + i,
    term: 1,
    type: EntryType.Normal,
    data: new Uint8Array(size),
  }));
}

const each = 40 + CACHED_ENTRY_OVERHEAD_BYTES;

Deno.test("EntryCache", async (t) => {
  await t.step("keeps the newest entries within its byte bound", () => {
    const cache = new EntryCache(10 * each);
    for (let i = 1; i <= 10_000; i += 100) cache.append(entries(i, i + 99));
    assert.equal(cache.length, 10);
    assert.equal(cache.bytes, 10 * each);
    assert.equal(cache.get(9990), undefined);
    assert.equal(cache.get(9991)?.index, 9991);
    assert.equal(cache.get(10_000)?.index, 10_000);
    assert.equal(cache.get(10_001), undefined);
  });

  await t.step("truncates a suffix and drops a prefix", () => {
    const cache = new EntryCache(1 << 20);
    cache.append(entries(5, 20));
    cache.truncateFrom(15);
    assert.equal(cache.length, 10);
    assert.equal(cache.get(15), undefined);
    cache.append(entries(15, 16));
    assert.equal(cache.get(16)?.index, 16);
    cache.dropBefore(10);
    assert.equal(cache.get(9), undefined);
    assert.equal(cache.get(10)?.index, 10);
    assert.equal(cache.bytes, 7 * each);
    cache.truncateFrom(3);
    assert.equal(cache.length, 0);
    assert.equal(cache.bytes, 0);
  });

  await t.step("a gap restarts the cache at the new entries", () => {
    const cache = new EntryCache(1 << 20);
    cache.append(entries(1, 5));
    cache.append(entries(50, 51));
    assert.equal(cache.get(5), undefined);
    assert.equal(cache.get(50)?.index, 50);
    assert.equal(cache.length, 2);
  });

  await t.step("capacity 0 keeps nothing; a negative one is refused", () => {
    const cache = new EntryCache(0);
    cache.append(entries(1, 3));
    assert.equal(cache.length, 0);
    assert.throws(() => new EntryCache(-1), /cache capacity must be >= 0 bytes, got -1/);
  });
});
