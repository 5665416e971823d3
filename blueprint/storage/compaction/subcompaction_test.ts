import assert from "node:assert/strict";
import { encodeInternalKey, ValueType } from "../internal_key.ts";
import type { TableFileMeta } from "../manifest.ts";
import type { CompactionPlan } from "./compaction_picker.ts";
import { subcompactionRanges } from "./subcompaction.ts";

const text = (s: string) => new TextEncoder().encode(s);
const ikey = (s: string) => encodeInternalKey(text(s), 1, ValueType.Value);
const decode = (bytes: Uint8Array | undefined) => bytes && new TextDecoder().decode(bytes);

function table(file_number: number, smallest: string, largest: string, size_bytes: number) {
  return {
    file_number,
    size_bytes,
    smallest_key: ikey(smallest),
    largest_key: ikey(largest),
  } as TableFileMeta;
}

function plan(next_inputs: TableFileMeta[], overrides: Partial<CompactionPlan> = {}) {
  return {
    level: 0,
    inputs: [table(1, "a", "z", 4 << 20)],
    next_inputs,
    output_level: 1,
    bottommost: false,
    grandparents: [],
    compact_pointer: ikey("z"),
    trivial_move: false,
    ...overrides,
  } as CompactionPlan;
}

const level1 = [
  table(10, "a", "c", 2 << 20),
  table(11, "d", "f", 2 << 20),
  table(12, "g", "i", 2 << 20),
  table(13, "j", "l", 2 << 20),
];

Deno.test("subcompactionRanges: two parts cut at the output level's middle boundary", () => {
  const ranges = subcompactionRanges(plan(level1), 2, 8 << 20);
  assert.deepEqual(ranges.map((r) => [decode(r.start), decode(r.end)]), [
    [undefined, "g"],
    ["g", undefined],
  ]);
});

Deno.test("subcompactionRanges: more parts, in key order, whatever order the tables come in", () => {
  const ranges = subcompactionRanges(plan([...level1].reverse()), 4, 1);
  assert.deepEqual(ranges.map((r) => [decode(r.start), decode(r.end)]), [
    [undefined, "d"],
    ["d", "g"],
    ["g", "j"],
    ["j", undefined],
  ]);
});

Deno.test("subcompactionRanges: one open range when splitting cannot help", () => {
  const whole = [{}];
  assert.deepEqual(subcompactionRanges(plan(level1), 1, 1), whole, "one part allowed");
  assert.deepEqual(subcompactionRanges(plan(level1), 2, 64 << 20), whole, "too small");
  assert.deepEqual(subcompactionRanges(plan(level1.slice(0, 1)), 2, 1), whole, "no boundary");
  assert.deepEqual(subcompactionRanges(plan(level1, { trivial_move: true }), 2, 1), whole);
});
