import assert from "node:assert/strict";
import { StorageError } from "../errors.ts";
import { Block } from "./block.ts";
import { BlockCache, ENTRY_OVERHEAD_BYTES } from "./block_cache.ts";

/** An empty block padded to `size_bytes` (the restart array sits at the end). */
function blockOfSize(size_bytes: number): Block {
  const data = new Uint8Array(size_bytes);
  data[size_bytes - 4] = 1; // one restart point
  data.fill(0, 0, size_bytes - 4);
  return new Block(data, "/db/test.sst", 0);
}

const charge = (size_bytes: number) => size_bytes + ENTRY_OVERHEAD_BYTES;

Deno.test("the cache evicts least recently used blocks by bytes", () => {
  const cache = new BlockCache(charge(100) * 3);
  const blocks = [100, 100, 100, 100].map(blockOfSize);
  cache.insert(1, 0, blocks[0]);
  cache.insert(1, 100, blocks[1]);
  cache.insert(2, 0, blocks[2]);
  assert.equal(cache.usageBytes(), charge(100) * 3);
  assert.equal(cache.get(1, 0), blocks[0]); // now (1,100) is the oldest
  cache.insert(2, 100, blocks[3]);
  assert.equal(cache.get(1, 100), undefined);
  assert.equal(cache.get(1, 0), blocks[0]);
  assert.equal(cache.get(2, 0), blocks[2]);
  assert.equal(cache.get(2, 100), blocks[3]);
  assert.equal(cache.entryCount(), 3);
  assert.equal(cache.hits, 4);
  assert.equal(cache.misses, 1);
});

Deno.test("one large block evicts as many small ones as it needs", () => {
  const cache = new BlockCache(charge(100) * 4);
  for (let i = 0; i < 4; i++) cache.insert(1, i * 100, blockOfSize(100));
  cache.insert(1, 1000, blockOfSize(250));
  // 250 + overhead needs the room of two small entries: the two oldest go.
  assert.equal(cache.entryCount(), 3);
  assert.equal(cache.get(1, 0), undefined);
  assert.equal(cache.get(1, 100), undefined);
  assert.ok(cache.get(1, 200) !== undefined);
  assert.ok(cache.get(1, 1000) !== undefined);
  assert.ok(cache.usageBytes() <= cache.capacity_bytes);
});

Deno.test("a block bigger than the cache, or a zero-capacity cache, keeps nothing", () => {
  const small = new BlockCache(50);
  small.insert(1, 0, blockOfSize(100));
  assert.equal(small.entryCount(), 0);
  assert.equal(small.usageBytes(), 0);
  const none = new BlockCache(0);
  none.insert(1, 0, blockOfSize(8));
  assert.equal(none.get(1, 0), undefined);
});

Deno.test("re-inserting a key replaces it; evictFile drops one file's blocks", () => {
  const cache = new BlockCache(1 << 20);
  const first = blockOfSize(100);
  const second = blockOfSize(200);
  cache.insert(3, 0, first);
  cache.insert(3, 0, second);
  assert.equal(cache.get(3, 0), second);
  assert.equal(cache.usageBytes(), charge(200));
  cache.insert(3, 4096, blockOfSize(100));
  cache.insert(4, 0, blockOfSize(100));
  cache.evictFile(3);
  assert.equal(cache.get(3, 0), undefined);
  assert.equal(cache.get(3, 4096), undefined);
  assert.ok(cache.get(4, 0) !== undefined);
  assert.equal(cache.usageBytes(), charge(100));
});

Deno.test("a negative or fractional capacity is rejected", () => {
  assert.throws(() => new BlockCache(-1), StorageError);
  assert.throws(() => new BlockCache(1.5), /non-negative integer/);
});
