import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { StorageError } from "./errors.ts";
import {
  compareBytes,
  compareInternalKeys,
  encodeInternalKey,
  formatInternalKey,
  lookupKey,
  MAX_SEQUENCE,
  sequenceOf,
  typeOf,
  userKeyOf,
  ValueType,
} from "./internal_key.ts";

const userKey = fc.uint8Array({ maxLength: 12, max: 3 });
const sequence = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: MAX_SEQUENCE }),
  fc.constantFrom(0, 255, 256, 2 ** 24 - 1, 2 ** 24, 2 ** 32, MAX_SEQUENCE),
);
const valueType = fc.constantFrom(ValueType.Deletion, ValueType.Value);
const entry = fc.record({ user_key: userKey, sequence, type: valueType });
type Entry = { user_key: Uint8Array; sequence: number; type: ValueType };

/** The order the contract defines, written the obvious way. */
function modelCompare(a: Entry, b: Entry): number {
  const by_user = compareBytes(a.user_key, b.user_key);
  if (by_user !== 0) return by_user;
  if (a.sequence !== b.sequence) return b.sequence - a.sequence;
  return b.type - a.type;
}

const encode = (e: Entry) => encodeInternalKey(e.user_key, e.sequence, e.type);

Deno.test("internal keys round-trip user key, sequence and type", () => {
  fc.assert(fc.property(entry, (e) => {
    const ikey = encode(e);
    assert.equal(ikey.length, e.user_key.length + 8);
    assert.deepEqual(userKeyOf(ikey), e.user_key);
    assert.equal(sequenceOf(ikey), e.sequence);
    assert.equal(typeOf(ikey), e.type);
  }));
});

Deno.test("the trailer is sequence * 256 + type as a little-endian uint64", () => {
  const ikey = encodeInternalKey(new Uint8Array([9]), 0x0102030405, ValueType.Value);
  assert.deepEqual([...ikey], [9, 0x01, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00]);
});

Deno.test("internal key order is user key ascending, sequence and type descending", () => {
  fc.assert(fc.property(entry, entry, (a, b) => {
    assert.equal(
      Math.sign(compareInternalKeys(encode(a), encode(b))),
      Math.sign(modelCompare(a, b)),
    );
  }));
});

Deno.test("sorting encoded keys matches sorting by the model (a total order)", () => {
  fc.assert(fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
    const by_model = [...entries].sort(modelCompare).map(encode);
    const by_bytes = entries.map(encode).sort(compareInternalKeys);
    assert.deepEqual(by_bytes, by_model);
  }));
});

Deno.test("lookupKey sorts after newer entries of its user key and before the visible ones", () => {
  fc.assert(fc.property(entry, sequence, (e, snapshot) => {
    const target = lookupKey(e.user_key, snapshot);
    const cmp = compareInternalKeys(target, encode(e));
    if (e.sequence > snapshot) assert.ok(cmp > 0, "a newer entry must sort before the lookup key");
    else assert.ok(cmp <= 0, "a visible entry must sort at or after the lookup key");
  }));
});

Deno.test("compareBytes is bytewise with a proper prefix first", () => {
  assert.ok(compareBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])) < 0);
  assert.ok(compareBytes(new Uint8Array([2]), new Uint8Array([1, 255])) > 0);
  assert.equal(compareBytes(new Uint8Array([255, 0]), new Uint8Array([255, 0])), 0);
});

Deno.test("bad inputs get errors naming the allowed range", () => {
  const k = new Uint8Array([1]);
  assert.throws(
    () => encodeInternalKey(k, -1, ValueType.Value),
    /sequence must be an integer in 0\.\./,
  );
  assert.throws(() => encodeInternalKey(k, MAX_SEQUENCE + 1, ValueType.Value), StorageError);
  assert.throws(() => encodeInternalKey(k, 1.5, ValueType.Value), StorageError);
  assert.throws(() => encodeInternalKey(k, 1, 7 as ValueType), /value type must be 0 .* or 1/);
  assert.throws(() => userKeyOf(new Uint8Array(7)), /at least 8 bytes/);
  assert.throws(() => compareInternalKeys(new Uint8Array(3), new Uint8Array(8)), StorageError);
});

Deno.test("formatInternalKey renders printable and binary keys", () => {
  const text = encodeInternalKey(new TextEncoder().encode("ab"), 5, ValueType.Deletion);
  assert.equal(formatInternalKey(text), '"ab"@5:deletion');
  const binary = encodeInternalKey(new Uint8Array([0, 255]), 6, ValueType.Value);
  assert.equal(formatInternalKey(binary), "0x00ff@6:value");
});
