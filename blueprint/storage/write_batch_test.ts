import assert from "node:assert/strict";
import { decodeBatch, WriteBatch } from "./write_batch.ts";
import { CorruptionError, StorageError } from "./errors.ts";
import { ValueType } from "./internal_key.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("write batch round-trips through its encoding", () => {
  const batch = new WriteBatch();
  const key = bytes("alpha");
  batch.put(key, bytes("1")).delete(bytes("beta")).put(bytes("g"), new Uint8Array(300).fill(7));
  key[0] = 0; // the batch copied it
  assert.equal(batch.count, 3);
  const record = batch.encode(2 ** 40 + 5);
  assert.equal(record.length, batch.sizeBytes);
  const decoded = decodeBatch(record, "000001.log");
  assert.equal(decoded.first_sequence, 2 ** 40 + 5);
  assert.deepEqual(decoded.entries, [
    { type: ValueType.Value, key: bytes("alpha"), value: bytes("1") },
    { type: ValueType.Deletion, key: bytes("beta"), value: new Uint8Array(0) },
    { type: ValueType.Value, key: bytes("g"), value: new Uint8Array(300).fill(7) },
  ]);
  const visited: string[] = [];
  batch.forEach((type, k) => visited.push(`${type}:${new TextDecoder().decode(k)}`));
  assert.deepEqual(visited, ["1:alpha", "0:beta", "1:g"]);
  batch.clear();
  assert.equal(batch.count, 0);
  assert.deepEqual(decodeBatch(batch.encode(1), "x").entries, []);
});

Deno.test("write batch rejects non-byte arguments with a clear error", () => {
  const batch = new WriteBatch();
  assert.throws(
    () => batch.put("a" as unknown as Uint8Array, bytes("1")),
    (e) => e instanceof StorageError && /key must be a Uint8Array, got string/.test(e.message),
  );
  assert.throws(
    () => batch.put(bytes("a"), null as unknown as Uint8Array),
    /value must be a Uint8Array, got null/,
  );
  assert.equal(batch.count, 0);
});

Deno.test("decodeBatch reports malformed records as corruption naming the source", () => {
  const record = new WriteBatch().put(bytes("a"), bytes("b")).encode(1);
  for (const bad of [record.subarray(0, 5), record.subarray(0, record.length - 1)]) {
    assert.throws(
      () => decodeBatch(bad, "000009.log"),
      (e) => e instanceof CorruptionError && e.path === "000009.log",
    );
  }
  const wrong_type = record.slice();
  wrong_type[12] = 7;
  assert.throws(() => decodeBatch(wrong_type, "w"), /unknown type 7/);
  const trailing = new Uint8Array(record.length + 1);
  trailing.set(record);
  assert.throws(() => decodeBatch(trailing, "w"), /trailing/);
});

Deno.test("forEachRange visits each operation as positions in the encoded bytes", () => {
  const long_value = new Uint8Array(300).fill(9); // a two-byte length varint
  const batch = new WriteBatch().put(bytes("a"), bytes("1")).delete(bytes("bb")).put(
    bytes("c"),
    long_value,
  );
  const seen: [ValueType, string, number][] = [];
  batch.forEachRange((type, data, key_start, key_length, value_start, value_length) => {
    const key = new TextDecoder().decode(data.subarray(key_start, key_start + key_length));
    const value = data.subarray(value_start, value_start + value_length);
    if (key === "c") assert.deepEqual(value, long_value);
    seen.push([type, key, value_length]);
  });
  assert.deepEqual(seen, [
    [ValueType.Value, "a", 1],
    [ValueType.Deletion, "bb", 0],
    [ValueType.Value, "c", 300],
  ]);
  assert.equal(batch.minKeyBytes, 1);
  assert.equal(batch.maxKeyBytes, 2);
  assert.equal(batch.maxValueBytes, 300);
  assert.deepEqual(batch.encodeInPlace(7), batch.encode(7));
  batch.clear();
  assert.equal(batch.maxKeyBytes, 0);
  assert.equal(batch.maxValueBytes, 0);
  assert.equal(batch.minKeyBytes, Infinity);
});
