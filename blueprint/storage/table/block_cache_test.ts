import assert from "node:assert/strict";
import { StorageError } from "../errors.ts";
import { Block } from "./block.ts";
import { BlockCache } from "./block_cache.ts";

/** A block of `size_bytes` (one restart point at the end) whose first byte is `tag`. */
function blockOfSize(size_bytes: number, tag = 0): Block {
  const data = new Uint8Array(size_bytes);
  data[size_bytes - 4] = 1; // one restart point
  data[0] = tag;
  return new Block(data, "/db/test.sst", 0);
}

Deno.test("the cache evicts the oldest slab as a whole when it must grow", () => {
  // Slabs of 192 bytes hold two 96-byte blocks; 384 bytes of capacity hold two slabs.
  const cache = new BlockCache(384, 192);
  for (let i = 0; i < 4; i++) cache.insert(1, i * 96, blockOfSize(96, i));
  assert.equal(cache.usageBytes(), 384);
  assert.equal(cache.entryCount(), 4);
  cache.insert(1, 384, blockOfSize(96, 4));
  // The first slab (blocks 0 and 96) went; the rest stayed.
  assert.equal(cache.entryCount(), 3);
  assert.equal(cache.usageBytes(), 384);
  assert.equal(cache.get(1, 0), undefined);
  assert.equal(cache.get(1, 96), undefined);
  assert.equal(cache.get(1, 384)?.data[0], 4);
  assert.equal(cache.misses, 2);
  assert.equal(cache.hits, 1);
  assert.equal(cache.promotions, 0, "a block in the newest slab stays where it is");
});

Deno.test("a block found in the oldest slab of a full cache gets a second chance", () => {
  const cache = new BlockCache(384, 192);
  for (let i = 0; i < 4; i++) cache.insert(1, i * 96, blockOfSize(96, i));
  // The cache is full: a hit on block 0 (oldest slab) copies it into a new slab, evicting
  // the oldest; block 0 lives on, block 96 (its neighbour, not asked for) does not.
  assert.equal(cache.get(1, 0)?.data[0], 0);
  assert.equal(cache.promotions, 1);
  assert.equal(cache.get(1, 96), undefined);
  assert.equal(cache.get(1, 0)?.data[0], 0);
  assert.equal(cache.promotions, 1, "a block in the newest slab is not copied again");
  cache.insert(1, 384, blockOfSize(96, 4));
  assert.equal(cache.get(1, 0)?.data[0], 0);
  assert.equal(cache.entryCount(), 4);
  assert.ok(cache.usageBytes() <= cache.capacity_bytes);
});

Deno.test("blocks read into the reserved room are cached without a copy", () => {
  const cache = new BlockCache(1 << 20, 4096);
  const room = cache.reserve(100 + 5);
  room[100 - 4] = 1;
  room[0] = 42;
  const block = new Block(room.subarray(0, 100), "/db/test.sst", 0);
  assert.equal(cache.insert(7, 0, block), block);
  assert.equal(cache.get(7, 0), block);
  // The next room starts past the cached block (8-byte aligned), never over it.
  const next = cache.reserve(64);
  assert.equal(next.buffer, room.buffer);
  assert.equal(next.byteOffset, room.byteOffset + 104);
  next.fill(9);
  assert.equal(cache.get(7, 0)?.data[0], 42);
});

Deno.test("an evicted block held by a reader keeps its bytes", () => {
  const cache = new BlockCache(200, 200);
  const held = cache.insert(1, 0, blockOfSize(100, 5));
  cache.insert(1, 100, blockOfSize(100, 6));
  cache.insert(1, 200, blockOfSize(100, 7)); // evicts the slab holding `held`
  assert.equal(cache.get(1, 0), undefined);
  for (let i = 0; i < 10; i++) cache.insert(2, i * 100, blockOfSize(100, 8));
  assert.equal(held.data[0], 5);
  assert.equal(held.data[96], 1);
});

Deno.test("a block bigger than a slab gets its own; bigger than the cache, none", () => {
  const cache = new BlockCache(1000, 200);
  const big = cache.insert(1, 0, blockOfSize(500, 3));
  assert.equal(cache.get(1, 0), big);
  assert.equal(cache.usageBytes(), 500);
  const huge = blockOfSize(2000);
  assert.equal(cache.insert(1, 1000, huge), huge);
  assert.equal(cache.get(1, 1000), undefined);
  assert.equal(cache.reserve(2005).length, 2005);
  const none = new BlockCache(0);
  none.insert(1, 0, blockOfSize(8));
  assert.equal(none.get(1, 0), undefined);
  assert.equal(none.usageBytes(), 0);
});

Deno.test("re-inserting a key replaces it; evictFile drops one file's blocks", () => {
  const cache = new BlockCache(1 << 20);
  cache.insert(3, 0, blockOfSize(100, 1));
  cache.insert(3, 0, blockOfSize(200, 2));
  assert.equal(cache.get(3, 0)?.data[0], 2);
  assert.equal(cache.get(3, 0)?.data.length, 200);
  assert.equal(cache.entryCount(), 1);
  cache.insert(3, 4096, blockOfSize(100));
  cache.insert(4, 0, blockOfSize(100, 4));
  cache.evictFile(3);
  assert.equal(cache.get(3, 0), undefined);
  assert.equal(cache.get(3, 4096), undefined);
  assert.equal(cache.get(4, 0)?.data[0], 4);
  assert.equal(cache.entryCount(), 1);
});

Deno.test("transient buffers do not overlap while their slab lasts", () => {
  const cache = new BlockCache(1 << 20);
  const first = cache.transient(100);
  const second = cache.transient(100);
  first.fill(1);
  second.fill(2);
  assert.ok(first.every((byte) => byte === 1));
  assert.equal(cache.usageBytes(), 0, "transient buffers are not the cache's");
});

Deno.test("a negative or fractional capacity is rejected", () => {
  assert.throws(() => new BlockCache(-1), StorageError);
  assert.throws(() => new BlockCache(1.5), /non-negative integer/);
  assert.throws(() => new BlockCache(100, 0), StorageError);
});

Deno.test("a retired slab is reused only at a safe point with no iterator open", () => {
  const cache = new BlockCache(384, 192);
  for (let i = 0; i < 4; i++) cache.insert(1, i * 96, blockOfSize(96, i));
  const held = cache.get(1, 96)!; // the second block of the oldest slab, not promoted yet
  assert.equal(held.data[0], 1);
  cache.iteratorOpened(); // a reader may hold `held`
  cache.insert(1, 384, blockOfSize(96, 4)); // retires the oldest slab
  cache.safePoint();
  for (let i = 5; i < 9; i++) cache.insert(1, i * 96, blockOfSize(96, i));
  assert.equal(cache.recycled, 0, "no reuse while an iterator is open");
  assert.equal(held.data[0], 1, "the held block's bytes are intact");
  cache.iteratorClosed();
  // Retired without a safe point since: still not reused.
  for (let i = 9; i < 11; i++) cache.insert(1, i * 96, blockOfSize(96, i));
  assert.equal(cache.recycled, 0, "no reuse before a safe point");
  cache.safePoint();
  for (let i = 11; i < 13; i++) cache.insert(1, i * 96, blockOfSize(96, i));
  assert.equal(cache.recycled, 1, "reused after a safe point with no iterator open");
  assert.equal(cache.get(1, 11 * 96)?.data[0], 11);
  assert.equal(cache.get(1, 12 * 96)?.data[0], 12);
  assert.throws(() => cache.iteratorClosed(), /closed twice/);
});
