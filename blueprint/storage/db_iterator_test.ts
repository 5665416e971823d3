import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { Memtable } from "./memtable.ts";
import { compareBytes, encodeInternalKey, ValueType } from "./internal_key.ts";
import {
  intersectRanges,
  type KeyRange,
  LevelIterator,
  prefixRange,
  ScanIterator,
} from "./db_iterator.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("prefixRange covers exactly the keys with the prefix", () => {
  assert.deepEqual(prefixRange(new Uint8Array([1, 2])), {
    start: new Uint8Array([1, 2]),
    end: new Uint8Array([1, 3]),
  });
  assert.deepEqual(prefixRange(new Uint8Array([1, 0xff])).end, new Uint8Array([2]));
  assert.equal(prefixRange(new Uint8Array([0xff, 0xff])).end, undefined);
  assert.deepEqual(prefixRange(new Uint8Array([])), { start: new Uint8Array([]) });
});

Deno.test("intersectRanges keeps the tighter bound on each side", () => {
  const a = new Uint8Array([1]);
  const b = new Uint8Array([5]);
  assert.deepEqual(intersectRanges({ start: a, end: b }, { start: b }), { start: b, end: b });
  assert.deepEqual(intersectRanges({}, { end: a }), { start: undefined, end: a });
});

Deno.test("ScanIterator yields the newest visible version per key, both directions", () => {
  const op = fc.record({
    key: fc.uint8Array({ minLength: 1, maxLength: 2, max: 4 }),
    del: fc.boolean(),
  });
  const bound = fc.option(fc.uint8Array({ minLength: 0, maxLength: 2, max: 5 }), {
    nil: undefined,
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), fc.nat(90), bound, bound, (
      ops,
      snapshot,
      start,
      end,
    ) => {
      const mem = new Memtable(ops.length + 7);
      const model = new Map<string, Uint8Array | null>();
      ops.forEach(({ key, del }, i) => {
        const value = new Uint8Array([i]);
        mem.add(
          i + 1,
          del ? ValueType.Deletion : ValueType.Value,
          key,
          del ? new Uint8Array(0) : value,
        );
        if (i + 1 <= snapshot) model.set(hex(key), del ? null : value);
      });
      const range: KeyRange = { start, end };
      const inRange = (k: Uint8Array) =>
        (start === undefined || compareBytes(k, start) >= 0) &&
        (end === undefined || compareBytes(k, end) < 0);
      const expected = [...model.entries()]
        .filter(([, v]) => v !== null)
        .map(([k, v]) => ({
          key: Uint8Array.from(k.match(/../g)!.map((h) => parseInt(h, 16))),
          value: v!,
        }))
        .filter(({ key }) => inRange(key))
        .sort((a, b) => compareBytes(a.key, b.key));
      let closed = 0;
      const got = [
        ...new ScanIterator(mem.iterator(), snapshot, range, false, Infinity, () => closed++),
      ];
      assert.deepEqual(got, expected);
      const back = [
        ...new ScanIterator(mem.iterator(), snapshot, range, true, Infinity, () => closed++),
      ];
      assert.deepEqual(back, [...expected].reverse());
      assert.equal(closed, 2);
    }),
    { seed: 7, numRuns: 300 },
  );
});

Deno.test("ScanIterator stops at its limit and releases its pins exactly once", () => {
  const mem = new Memtable();
  for (let i = 0; i < 5; i++) {
    mem.add(i + 1, ValueType.Value, new Uint8Array([i]), new Uint8Array([i]));
  }
  let closed = 0;
  const limited = [...new ScanIterator(mem.iterator(), 10, {}, true, 2, () => closed++)];
  assert.deepEqual(limited.map((e) => e.key[0]), [4, 3]);
  assert.equal(closed, 1);
  for (const entry of new ScanIterator(mem.iterator(), 10, {}, false, 9, () => closed++)) {
    assert.deepEqual(entry.key, new Uint8Array([0]));
    break;
  }
  assert.equal(closed, 2);
  const untouched = new ScanIterator(mem.iterator(), 10, {}, false, 0, () => closed++);
  assert.equal(untouched.next().done, true);
  untouched.close();
  assert.equal(closed, 3);
});

Deno.test("LevelIterator walks a level's tables as one sorted sequence", () => {
  const tables = [[1, 2, 3], [], [5], [7, 8]].map((keys, i) => {
    const mem = new Memtable(i + 1);
    keys.forEach((k) => mem.add(k, ValueType.Value, new Uint8Array([k]), new Uint8Array([k])));
    return mem;
  });
  const metas = tables.map((_, i) => ({
    file_number: i,
    size_bytes: 1,
    smallest_key: encodeInternalKey(new Uint8Array([[1, 4, 5, 7][i]]), 99, ValueType.Value),
    largest_key: encodeInternalKey(new Uint8Array([[3, 4, 5, 8][i]]), 0, ValueType.Value),
  }));
  const opened: number[] = [];
  const it = new LevelIterator(metas, (meta) => {
    opened.push(meta.file_number);
    return tables[meta.file_number].iterator();
  });
  const forward: number[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) forward.push(it.key()[0]);
  assert.deepEqual(forward, [1, 2, 3, 5, 7, 8]);
  const backward: number[] = [];
  for (it.seekToLast(); it.valid(); it.prev()) backward.push(it.value()[0]);
  assert.deepEqual(backward, [8, 7, 5, 3, 2, 1]);
  opened.length = 0;
  it.seek(encodeInternalKey(new Uint8Array([4]), 99, ValueType.Value));
  assert.equal(it.key()[0], 5);
  assert.deepEqual(opened, [1, 2], "the seek starts at the first table that may hold the key");
  it.seek(encodeInternalKey(new Uint8Array([9]), 99, ValueType.Value));
  assert.equal(it.valid(), false);
  it.close();
});
