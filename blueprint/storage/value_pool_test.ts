import assert from "node:assert/strict";
import { MAX_POOLED_VALUE_BYTES, VALUE_SLAB_BYTES, ValuePool } from "./value_pool.ts";

Deno.test("ValuePool copies are independent of the source and of each other", () => {
  const pool = new ValuePool();
  const source = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const copies: Uint8Array[] = [];
  // Enough copies to fill several slabs.
  for (let i = 0; i < (3 * VALUE_SLAB_BYTES) / 100; i++) {
    copies.push(pool.copy(source.subarray(i % 200, (i % 200) + 100)));
  }
  source.fill(0);
  for (const [i, copy] of copies.entries()) {
    assert.equal(copy.length, 100);
    assert.equal(copy[0], (i % 200) & 0xff, `copy ${i}`);
    assert.equal(copy.byteOffset % 8, 0);
    copy.fill(0xee); // must not reach the next copy
  }
  assert.ok(copies.every((copy) => copy.every((b) => b === 0xee)));
  const empty = pool.copy(new Uint8Array(0));
  assert.equal(empty.length, 0);
  const large = new Uint8Array(MAX_POOLED_VALUE_BYTES + 1).fill(3);
  const large_copy = pool.copy(large);
  assert.deepEqual(large_copy, large);
  assert.equal(large_copy.buffer.byteLength, large.length, "a large value gets its own buffer");
});

Deno.test("ValuePool copyRange copies exactly the range, pooled or alone", () => {
  const pool = new ValuePool();
  const source = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
  const short = pool.copyRange(source, 13, 37);
  assert.deepEqual(short, source.subarray(13, 37));
  assert.equal(short.buffer.byteLength, VALUE_SLAB_BYTES, "a short range is cut from a slab");
  const long = pool.copyRange(source, 5, 5 + MAX_POOLED_VALUE_BYTES + 1);
  assert.deepEqual(long, source.subarray(5, 5 + MAX_POOLED_VALUE_BYTES + 1));
  assert.equal(long.buffer.byteLength, MAX_POOLED_VALUE_BYTES + 1);
  source.fill(0);
  assert.equal(short[0], (13 * 7) & 0xff, "copies do not follow the source");
  assert.equal(pool.copyRange(source, 9, 9).length, 0);
});
