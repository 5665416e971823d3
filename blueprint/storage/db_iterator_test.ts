import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { Memtable } from "./memtable.ts";
import { compareBytes, ValueType } from "./internal_key.ts";
import { intersectRanges, type KeyRange, prefixRange, visibleEntries } from "./db_iterator.ts";

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

Deno.test("visibleEntries yields the newest visible version per key, both directions", () => {
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
      const got = [...visibleEntries(mem.iterator(), snapshot, range, false, () => closed++)];
      assert.deepEqual(got, expected);
      const back = [...visibleEntries(mem.iterator(), snapshot, range, true, () => closed++)];
      assert.deepEqual(back, [...expected].reverse());
      assert.equal(closed, 2);
    }),
    { seed: 7, numRuns: 300 },
  );
});

Deno.test("visibleEntries closes its source when the caller stops early", () => {
  const mem = new Memtable();
  for (let i = 0; i < 5; i++) {
    mem.add(i + 1, ValueType.Value, new Uint8Array([i]), new Uint8Array([i]));
  }
  let closed = false;
  for (const entry of visibleEntries(mem.iterator(), 10, {}, false, () => (closed = true))) {
    assert.deepEqual(entry.key, new Uint8Array([0]));
    break;
  }
  assert.equal(closed, true);
});
