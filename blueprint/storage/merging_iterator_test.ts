import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { StorageError } from "./errors.ts";
import { compareInternalKeys, encodeInternalKey, ValueType } from "./internal_key.ts";
import type { InternalIterator } from "./iterator.ts";
import { MergingIterator } from "./merging_iterator.ts";

/** A sorted array as an iterator: the simplest correct child. */
class ArrayIterator implements InternalIterator {
  #index = -1;
  closed = false;
  /** @param tag the value of every entry (default: the key's first byte) */
  constructor(readonly keys: Uint8Array[], readonly tag?: Uint8Array) {}
  valid(): boolean {
    return this.#index >= 0 && this.#index < this.keys.length;
  }
  seekToFirst(): void {
    this.#index = 0;
  }
  seekToLast(): void {
    this.#index = this.keys.length - 1;
  }
  seek(target: Uint8Array): void {
    this.#index = this.keys.findIndex((k) => compareInternalKeys(k, target) >= 0);
    if (this.#index < 0) this.#index = this.keys.length;
  }
  next(): void {
    assert.ok(this.valid(), "child next() while invalid");
    this.#index++;
  }
  prev(): void {
    assert.ok(this.valid(), "child prev() while invalid");
    this.#index--;
  }
  key(): Uint8Array {
    assert.ok(this.valid());
    return this.keys[this.#index];
  }
  value(): Uint8Array {
    return this.tag ?? this.key().subarray(0, 1);
  }
  close(): void {
    this.closed = true;
  }
}

const key = (user: number, sequence: number) =>
  encodeInternalKey(new Uint8Array([user]), sequence, ValueType.Value);

type Op =
  | { op: "first" }
  | { op: "last" }
  | { op: "seek"; user: number; sequence: number }
  | { op: "next" }
  | { op: "prev" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ op: "first" } as Op),
  fc.constant({ op: "last" } as Op),
  fc.record({
    op: fc.constant("seek"),
    user: fc.integer({ min: 0, max: 21 }),
    sequence: fc.nat(30),
  }) as fc.Arbitrary<Op>,
  fc.constant({ op: "next" } as Op),
  fc.constant({ op: "next" } as Op),
  fc.constant({ op: "prev" } as Op),
  fc.constant({ op: "prev" } as Op),
);

Deno.test("MergingIterator matches a sorted model in both directions, across direction switches", () => {
  const scenario = fc.record({
    // Unique (user, sequence) pairs, each assigned to one of up to 24 children (level 0 may
    // hold dozens of tables, so the forward heap is several levels deep).
    entries: fc.uniqueArray(
      fc.record({ user: fc.integer({ min: 1, max: 20 }), sequence: fc.nat(30), child: fc.nat(23) }),
      { maxLength: 80, selector: (e) => `${e.user}/${e.sequence}` },
    ),
    child_count: fc.integer({ min: 1, max: 24 }),
    ops: fc.array(opArb, { maxLength: 60 }),
  });
  fc.assert(
    fc.property(scenario, ({ entries, child_count, ops }) => {
      const model = entries.map((e) => key(e.user, e.sequence)).sort(compareInternalKeys);
      const children = Array.from({ length: child_count }, () => [] as Uint8Array[]);
      for (const e of entries) children[e.child % child_count].push(key(e.user, e.sequence));
      for (const c of children) c.sort(compareInternalKeys);
      const merged = new MergingIterator(children.map((c) => new ArrayIterator(c)));
      let at = -1; // model position; -1 or model.length = invalid
      for (const step of ops) {
        if (step.op === "first") {
          merged.seekToFirst();
          at = model.length === 0 ? -1 : 0;
        } else if (step.op === "last") {
          merged.seekToLast();
          at = model.length - 1;
        } else if (step.op === "seek") {
          const target = key(step.user, step.sequence);
          merged.seek(target);
          at = model.findIndex((k) => compareInternalKeys(k, target) >= 0);
        } else {
          if (!merged.valid()) continue;
          if (step.op === "next") merged.next();
          else merged.prev();
          at += step.op === "next" ? 1 : -1;
        }
        const model_valid = at >= 0 && at < model.length;
        assert.equal(merged.valid(), model_valid, `valid() after ${step.op}`);
        if (model_valid) assert.deepEqual(merged.key(), model[at], `key after ${step.op}`);
      }
      merged.close();
    }),
    { numRuns: 300 },
  );
});

Deno.test("MergingIterator walks a whole merge forward then backward", () => {
  const a = [key(1, 5), key(3, 9), key(3, 2)];
  const b = [key(2, 7), key(3, 4), key(9, 1)];
  const model = [...a, ...b].sort(compareInternalKeys);
  const merged = new MergingIterator([new ArrayIterator(a), new ArrayIterator(b)]);
  const forward: Uint8Array[] = [];
  for (merged.seekToFirst(); merged.valid(); merged.next()) forward.push(merged.key());
  assert.deepEqual(forward, model);
  const backward: Uint8Array[] = [];
  for (merged.seekToLast(); merged.valid(); merged.prev()) backward.push(merged.key());
  assert.deepEqual(backward, model.reverse());
});

Deno.test("MergingIterator yields an internal key held by several children in children order", () => {
  // 20 children; child c holds keys 1..c (so key 1 is in all 20) and key 50 + c.
  const children = Array.from({ length: 20 }, (_, c) => {
    const keys = Array.from({ length: c + 1 }, (_, user) => key(user + 1, 1));
    keys.push(key(50 + c, 1));
    return new ArrayIterator(keys, new Uint8Array([c]));
  });
  const merged = new MergingIterator(children);
  const walked: string[] = [];
  for (merged.seekToFirst(); merged.valid(); merged.next()) {
    walked.push(`${merged.key()[0]}:${merged.value()[0]}`);
  }
  const expected: string[] = [];
  for (let user = 1; user <= 20; user++) {
    for (let c = user - 1; c < 20; c++) expected.push(`${user}:${c}`);
  }
  for (let c = 0; c < 20; c++) expected.push(`${50 + c}:${c}`);
  assert.deepEqual(walked, expected);
  merged.seek(key(7, 1));
  assert.equal(`${merged.key()[0]}:${merged.value()[0]}`, "7:6", "seek lands on the first holder");
});

Deno.test("MergingIterator with no children is empty, and close closes every child", () => {
  const empty = new MergingIterator([]);
  empty.seekToFirst();
  assert.equal(empty.valid(), false);
  assert.throws(() => empty.key(), StorageError);
  const children = [new ArrayIterator([key(1, 1)]), new ArrayIterator([])];
  const merged = new MergingIterator(children);
  merged.close();
  assert.ok(children.every((c) => c.closed));
  assert.throws(() => merged.seekToFirst(), /after close/);
});
