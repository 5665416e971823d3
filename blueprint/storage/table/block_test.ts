import assert from "node:assert/strict";
import { CorruptionError, StorageError } from "../errors.ts";
import { compareInternalKeys, encodeInternalKey, ValueType } from "../internal_key.ts";
import { Block } from "./block.ts";
import { BlockBuilder } from "./block_builder.ts";
import { randomEntries, type TestEntry, testSeed, withSeed } from "./table_test_helpers.ts";

function buildBlock(entries: TestEntry[], restart_interval: number): Block {
  const builder = new BlockBuilder(restart_interval, 16);
  for (const { key, value } of entries) builder.add(key, value);
  return new Block(builder.finish().slice(), "/db/000001.sst", 0);
}

Deno.test("blocks round-trip random sorted entries at several restart intervals", async (t) => {
  const seed = testSeed();
  for (const restart_interval of [1, 2, 16, 1000]) {
    await t.step(
      `restart interval ${restart_interval}`,
      () =>
        withSeed(seed + restart_interval, (rng) => {
          const entries = randomEntries(rng, 300);
          const block = buildBlock(entries, restart_interval);
          const it = block.iterator();
          let i = 0;
          for (it.seekToFirst(); it.valid(); it.next(), i++) {
            assert.deepEqual(it.key(), entries[i].key, `forward key ${i}`);
            assert.deepEqual(it.value(), entries[i].value, `forward value ${i}`);
          }
          assert.equal(i, entries.length);
          i = entries.length - 1;
          for (it.seekToLast(); it.valid(); it.prev(), i--) {
            assert.deepEqual(it.key(), entries[i].key, `backward key ${i}`);
          }
          assert.equal(i, -1);
          for (let j = 0; j < entries.length; j++) {
            it.seek(entries[j].key);
            assert.deepEqual(it.key(), entries[j].key, `seek to existing key ${j}`);
            if (j > 0) {
              it.prev();
              assert.deepEqual(it.key(), entries[j - 1].key, `prev after seek ${j}`);
            }
          }
        }),
    );
  }
});

Deno.test("seek lands on the first key at or after targets between and beyond entries", () => {
  const k = (user: string, sequence: number) =>
    encodeInternalKey(new TextEncoder().encode(user), sequence, ValueType.Value);
  const keys = [k("apple", 9), k("apple", 3), k("apricot", 5), k("banana", 1), k("cherry", 2)];
  const block = buildBlock(keys.map((key) => ({ key, value: key.subarray(0, 1) })), 2);
  const it = block.iterator();
  const expectations: [Uint8Array, Uint8Array | null][] = [
    [k("a", 1), keys[0]],
    [k("apple", 10), keys[0]],
    [k("apple", 5), keys[1]],
    [k("apple", 1), keys[2]],
    [k("b", 100), keys[3]],
    [k("cherry", 2), keys[4]],
    [k("cherry", 1), null],
    [k("zebra", 1), null],
  ];
  for (const [target, expected] of expectations) {
    it.seek(target);
    if (expected === null) assert.equal(it.valid(), false);
    else assert.equal(compareInternalKeys(it.key(), expected), 0);
  }
});

Deno.test("an empty block iterates nothing; an invalid iterator refuses to move", () => {
  const block = new Block(new BlockBuilder(16).finish().slice(), "/db/x.sst", 0);
  const it = block.iterator();
  it.seekToFirst();
  assert.equal(it.valid(), false);
  it.seekToLast();
  assert.equal(it.valid(), false);
  assert.throws(() => it.next(), StorageError);
  assert.throws(() => it.key(), StorageError);
});

Deno.test("a block with an impossible restart count or entry header is a CorruptionError", () => {
  assert.throws(() => new Block(new Uint8Array(3), "/db/a.sst", 10), CorruptionError);
  const too_many = new Uint8Array(8);
  too_many[4] = 9;
  assert.throws(() => new Block(too_many, "/db/a.sst", 10), /claims 9 restart points/);
  const builder = new BlockBuilder(16);
  builder.add(encodeInternalKey(new Uint8Array([1]), 1, ValueType.Value), new Uint8Array(2));
  const bytes = builder.finish().slice();
  bytes[2] = 100; // value length beyond the entries
  const it = new Block(bytes, "/db/a.sst", 4096).iterator();
  assert.throws(() => it.seekToFirst(), (err) => {
    assert.ok(err instanceof CorruptionError);
    assert.equal(err.path, "/db/a.sst");
    assert.equal(err.offset, 4096);
    return true;
  });
});

Deno.test("builder reports its size and last key, and resets for reuse", () => {
  const builder = new BlockBuilder(2);
  assert.equal(builder.estimatedSizeBytes(), 8);
  const a = encodeInternalKey(new Uint8Array([1, 2, 3]), 1, ValueType.Value);
  const b = encodeInternalKey(new Uint8Array([1, 2, 4]), 1, ValueType.Value);
  builder.add(a, new Uint8Array(5));
  builder.add(b, new Uint8Array(0));
  assert.deepEqual(builder.lastKey(), b);
  assert.equal(builder.entryCount(), 2);
  // a: 3 header + 11 key + 5 value; b: 3 header + 9 unshared key bytes; restarts 4 + count 4.
  assert.equal(builder.estimatedSizeBytes(), 19 + 12 + 8);
  builder.reset();
  assert.ok(builder.empty());
});

Deno.test("keys from key() stay intact while the iterator moves on and is reset", () => {
  withSeed(testSeed(), (rng) => {
    // 600 keys of up to 32 bytes fill several key slabs; one 300-byte key takes the long path.
    const entries = randomEntries(rng, 600);
    const long_key = encodeInternalKey(new Uint8Array(300).fill(0xff), 1, ValueType.Value);
    entries.push({ key: long_key, value: new Uint8Array(0) });
    const block = buildBlock(entries, 16);
    const it = block.iterator();
    const kept: Uint8Array[] = [];
    for (it.seekToFirst(); it.valid(); it.next()) {
      kept.push(it.key());
      assert.equal(it.key(), kept[kept.length - 1], "key() is cached until the iterator moves");
    }
    it.reset(block);
    for (it.seekToLast(); it.valid(); it.prev()) kept.push(it.key());
    assert.equal(kept.length, 2 * entries.length);
    kept.forEach((key, i) => {
      const expected = i < entries.length ? entries[i] : entries[2 * entries.length - 1 - i];
      assert.deepEqual(key, expected.key, `kept key ${i}`);
    });
  });
});
