import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import type { InternalIterator } from "./iterator.ts";
import { Memtable } from "./memtable.ts";
import {
  compareInternalKeys,
  encodeInternalKey,
  lookupKey,
  sequenceOf,
  typeOf,
  userKeyOf,
  ValueType,
} from "./internal_key.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("memtable get returns the newest entry at or below the snapshot", () => {
  const mem = new Memtable();
  mem.add(1, ValueType.Value, bytes("k"), bytes("v1"));
  mem.add(5, ValueType.Value, bytes("k"), bytes("v5"));
  mem.add(9, ValueType.Deletion, bytes("k"), new Uint8Array(0));
  mem.add(3, ValueType.Value, bytes("j"), bytes("j3"));
  assert.equal(mem.get(bytes("k"), 0), undefined);
  assert.equal(text(mem.get(bytes("k"), 4)!.value), "v1");
  assert.deepEqual(mem.get(bytes("k"), 5)!.sequence, 5);
  assert.equal(text(mem.get(bytes("k"), 8)!.value), "v5");
  assert.equal(mem.get(bytes("k"), 100)!.type, ValueType.Deletion);
  assert.equal(mem.get(bytes("kk"), 100), undefined);
  assert.equal(mem.get(bytes(""), 100), undefined);
  assert.equal(mem.largestSequence, 9);
  assert.equal(mem.entryCount, 4);
  assert.ok(mem.sizeBytes > 0);
});

Deno.test("memtable copies keys and values and rejects a duplicate internal key", () => {
  const mem = new Memtable();
  const key = bytes("a");
  const value = bytes("x");
  mem.add(1, ValueType.Value, key, value);
  key[0] = 0x62;
  value[0] = 0x79;
  assert.equal(text(mem.get(bytes("a"), 1)!.value), "x");
  assert.throws(() => mem.add(1, ValueType.Value, bytes("a"), bytes("z")), /duplicate/);
});

/** Asserts that `it` yields exactly `model` walking forward, and its reverse walking backward. */
function assertWalksBothWays(it: InternalIterator, model: Uint8Array[]): void {
  const forward: Uint8Array[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) forward.push(it.key());
  assert.deepEqual(forward, model);
  const backward: Uint8Array[] = [];
  for (it.seekToLast(); it.valid(); it.prev()) backward.push(it.key());
  assert.deepEqual(backward, [...model].reverse());
}

Deno.test("memtable iterator matches a sorted model forward, backward and by seek", () => {
  const entry = fc.record({
    key: fc.uint8Array({ minLength: 0, maxLength: 4, max: 3 }),
    type: fc.constantFrom(ValueType.Value, ValueType.Deletion),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 200 }), fc.array(fc.nat(300), { maxLength: 20 }), (
      entries,
      seek_points,
    ) => {
      const mem = new Memtable(entries.length + 1);
      const model: Uint8Array[] = [];
      entries.forEach(({ key, type }, i) => {
        mem.add(i + 1, type, key, bytes(`v${i}`));
        model.push(encodeInternalKey(key, i + 1, type));
      });
      model.sort(compareInternalKeys);
      const it = mem.iterator();
      assertWalksBothWays(it, model);
      for (const point of seek_points) {
        if (model.length === 0) break;
        const probe = model[point % model.length];
        const target = lookupKey(userKeyOf(probe), sequenceOf(probe));
        it.seek(target);
        const expected = model.find((k) => compareInternalKeys(k, target) >= 0);
        if (expected === undefined) assert.equal(it.valid(), false);
        else {
          assert.deepEqual(it.key(), expected);
          assert.equal(text(it.value()), `v${sequenceOf(expected) - 1}`);
          assert.equal(typeOf(it.key()), typeOf(expected));
        }
      }
      it.close();
    }),
    { seed: 42, numRuns: 100 },
  );
});

Deno.test("memtable links keys that arrive in order at the end, mixed with keys that do not", () => {
  // Ascending runs take the append path (no search); the keys between them take the search.
  const op = fc.oneof(
    fc.record({ run_from: fc.nat(2000), length: fc.integer({ min: 1, max: 80 }) }),
    fc.record({ key: fc.nat(2000) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const mem = new Memtable(7);
      const model: Uint8Array[] = [];
      const newest = new Map<string, number>();
      let sequence = 0;
      const add = (n: number) => {
        const user = bytes(`key-${String(n).padStart(6, "0")}`);
        mem.add(++sequence, ValueType.Value, user, bytes(`v${sequence}`));
        model.push(encodeInternalKey(user, sequence, ValueType.Value));
        newest.set(text(user), sequence);
      };
      for (const step of ops) {
        if ("key" in step) add(step.key);
        else for (let i = 0; i < step.length; i++) add(step.run_from + i);
      }
      model.sort(compareInternalKeys);
      assert.ok(mem.levelsInOrder(), "every level is sorted and ends at its recorded last node");
      const it = mem.iterator();
      assertWalksBothWays(it, model);
      for (const [user, seq] of newest) {
        assert.equal(mem.get(bytes(user), sequence)?.sequence, seq, `newest ${user}`);
        it.seek(lookupKey(bytes(user), sequence));
        assert.equal(sequenceOf(it.key()), seq, `seek ${user}`);
      }
      it.close();
    }),
    { seed: 7, numRuns: 200 },
  );
});

Deno.test("memtable iterator keeps walking while entries are added", () => {
  const mem = new Memtable();
  for (let i = 0; i < 10; i += 2) mem.add(i + 1, ValueType.Value, bytes(`k${i}`), bytes("v"));
  const it = mem.iterator();
  it.seekToFirst();
  const seen: string[] = [];
  for (let i = 1; it.valid(); it.next(), i += 2) {
    seen.push(text(userKeyOf(it.key())));
    if (i < 10) mem.add(100 + i, ValueType.Value, bytes(`k${i}`), bytes("v"));
  }
  assert.deepEqual(seen, ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"]);
});

Deno.test("memtable orders and finds keys that differ past the 16-byte prefix", () => {
  // Bytes 0x00, 0x7f, 0x80 and 0xff probe the zero padding and the sign of the prefix words;
  // lengths up to 24 put differences in every word and in the bytes after them.
  const key = fc.tuple(
    fc.integer({ min: 0, max: 24 }),
    fc.array(fc.constantFrom(0x00, 0x7f, 0x80, 0xff), { minLength: 24, maxLength: 24 }),
    fc.constantFrom(0, 3, 12, 15, 16, 17, 20),
  ).map(([length, tail, head_length]) => {
    const out = new Uint8Array(length).fill(0x30);
    for (let i = Math.min(head_length, length); i < length; i++) out[i] = tail[i];
    return out;
  });
  fc.assert(
    fc.property(fc.array(key, { maxLength: 150 }), (keys) => {
      const mem = new Memtable(keys.length + 7);
      const model: Uint8Array[] = [];
      keys.forEach((user_key, i) => {
        mem.add(i + 1, ValueType.Value, user_key, bytes(`v${i}`));
        model.push(encodeInternalKey(user_key, i + 1, ValueType.Value));
      });
      model.sort(compareInternalKeys);
      const it = mem.iterator();
      const forward: Uint8Array[] = [];
      for (it.seekToFirst(); it.valid(); it.next()) forward.push(it.key());
      assert.deepEqual(forward, model);
      for (const user_key of keys) {
        const newest = model.find((k) => compareInternalKeys(k, lookupKey(user_key, 1e6)) >= 0)!;
        const hit = mem.get(user_key, 1e6);
        assert.equal(hit?.sequence, sequenceOf(newest));
        const longer = new Uint8Array(user_key.length + 1).fill(0x01);
        longer.set(user_key);
        if (!keys.some((k) => k.length === longer.length && k.every((b, i) => b === longer[i]))) {
          assert.equal(mem.get(longer, 1e6), undefined);
        }
      }
    }),
    { seed: 7, numRuns: 60 },
  );
});

Deno.test("memtable get finds every key while its key filter grows", () => {
  // 12,000 entries take the filter through several doublings; each key is probed right
  // after its write and again at the end.
  const mem = new Memtable();
  const key = (i: number) => bytes(`user-${(i * 7919) % 12_007}`);
  for (let i = 0; i < 12_000; i++) {
    mem.add(i + 1, ValueType.Value, key(i), bytes(`v${i}`));
    assert.equal(mem.get(key(i), i + 1)?.sequence, i + 1);
  }
  for (let i = 0; i < 12_000; i++) assert.equal(text(mem.get(key(i), 12_000)!.value), `v${i}`);
  for (let i = 0; i < 2_000; i++) assert.equal(mem.get(bytes(`absent-${i}`), 12_000), undefined);
});

Deno.test("memtable addRange stores the same entry as add", () => {
  const by_add = new Memtable();
  const by_range = new Memtable();
  const source = bytes("..key-1..value-1..");
  by_add.add(3, ValueType.Value, bytes("key-1"), bytes("value-1"));
  by_range.addRange(3, ValueType.Value, source, 2, 5, 9, 7);
  by_range.addRange(4, ValueType.Deletion, source, 2, 5, 0, 0);
  assert.equal(text(by_range.get(bytes("key-1"), 3)!.value), "value-1");
  assert.equal(by_range.get(bytes("key-1"), 4)!.type, ValueType.Deletion);
  assert.deepEqual(by_range.get(bytes("key-1"), 3), by_add.get(bytes("key-1"), 3));
});
