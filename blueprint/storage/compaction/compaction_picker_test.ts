import assert from "node:assert/strict";
import { encodeInternalKey, ValueType } from "../internal_key.ts";
import { type ManifestState, NUM_LEVELS, type TableFileMeta } from "../manifest.ts";
import { DEFAULT_COMPACTION_OPTIONS, resolveCompactionOptions } from "./compaction_options.ts";
import {
  compactionScores,
  overlappingFiles,
  pickCompaction,
  planForLevel,
} from "./compaction_picker.ts";

const text = new TextEncoder();
const MiB = 1 << 20;

function file(
  file_number: number,
  smallest: string,
  largest: string,
  size_bytes = MiB,
  smallest_sequence = 100,
  largest_sequence = 1,
): TableFileMeta {
  return {
    file_number,
    size_bytes,
    smallest_key: encodeInternalKey(text.encode(smallest), smallest_sequence, ValueType.Value),
    largest_key: encodeInternalKey(text.encode(largest), largest_sequence, ValueType.Value),
  };
}

function state(levels: TableFileMeta[][], pointers: (string | null)[] = []): ManifestState {
  const padded = Array.from({ length: NUM_LEVELS }, (_, i) => levels[i] ?? []);
  return {
    next_file_number: 1000,
    last_sequence: 1000,
    log_number: 1,
    levels: padded,
    compact_pointers: Array.from(
      { length: NUM_LEVELS },
      (_, i) =>
        pointers[i] ? encodeInternalKey(text.encode(pointers[i]!), 0, ValueType.Value) : null,
    ),
  };
}

const numbers = (files: TableFileMeta[]) => files.map((f) => f.file_number);
const options = DEFAULT_COMPACTION_OPTIONS;

Deno.test("pickCompaction: nothing to do below every trigger", () => {
  assert.equal(pickCompaction(state([]), options), null);
  const three_l0 = [file(1, "a", "c"), file(2, "b", "d"), file(3, "x", "z")];
  assert.equal(pickCompaction(state([three_l0, [file(9, "a", "z", 9 * MiB)]]), options), null);
});

Deno.test("pickCompaction: four L0 files compact together with the overlapping L1 files", () => {
  const l0 = [file(1, "a", "c"), file(2, "b", "d"), file(3, "c", "f"), file(4, "e", "g")];
  const l1 = [file(10, "a", "b"), file(11, "c", "e"), file(12, "h", "k"), file(13, "m", "p")];
  const plan = pickCompaction(state([l0, l1]), options);
  assert.ok(plan);
  assert.equal(plan.level, 0);
  assert.equal(plan.output_level, 1);
  assert.deepEqual(numbers(plan.inputs), [1, 2, 3, 4]);
  assert.deepEqual(numbers(plan.next_inputs), [10, 11]);
  assert.equal(plan.bottommost, true);
  assert.equal(plan.trivial_move, false);
});

Deno.test("pickCompaction: L0 takes only files transitively overlapping the first pick", () => {
  // File 1 overlaps 2, 2 overlaps 3; file 4 is disjoint and stays for a later compaction.
  const l0 = [file(1, "a", "c"), file(2, "c", "e"), file(3, "e", "g"), file(4, "x", "z")];
  const plan = pickCompaction(state([l0]), options);
  assert.ok(plan);
  assert.deepEqual(numbers(plan.inputs), [1, 2, 3]);
  assert.deepEqual(numbers(plan.next_inputs), []);
});

Deno.test("pickCompaction: L1 over its 10 MiB budget compacts one file round-robin", () => {
  const l1 = [
    file(10, "a", "c", 4 * MiB),
    file(11, "d", "f", 4 * MiB),
    file(12, "g", "i", 4 * MiB),
  ];
  const l2 = [file(20, "a", "b"), file(21, "e", "e"), file(22, "h", "z")];
  const first = pickCompaction(state([[], l1, l2]), options);
  assert.ok(first);
  assert.equal(first.level, 1);
  assert.deepEqual(numbers(first.inputs), [10]);
  assert.deepEqual(numbers(first.next_inputs), [20]);
  assert.equal(first.trivial_move, false);
  // After the pointer moves past file 10's largest key, the next pick is file 11, then 12,
  // then it wraps around to 10.
  const second = pickCompaction(state([[], l1, l2], [null, "c"]), options);
  assert.deepEqual(numbers(second!.inputs), [11]);
  assert.deepEqual(numbers(second!.next_inputs), [21]);
  const third = pickCompaction(state([[], l1, l2], [null, "f"]), options);
  assert.deepEqual(numbers(third!.inputs), [12]);
  const wrapped = pickCompaction(state([[], l1, l2], [null, "i"]), options);
  assert.deepEqual(numbers(wrapped!.inputs), [10]);
  assert.deepEqual(first.compact_pointer, l1[0].largest_key);
});

Deno.test("pickCompaction: the level with the highest score wins", () => {
  const l0 = [file(1, "a", "b"), file(2, "c", "d"), file(3, "e", "f"), file(4, "g", "h")]; // 1.0
  const l1 = [file(10, "a", "z", 25 * MiB)]; // 2.5
  const l2 = [file(20, "a", "z", 150 * MiB)]; // 1.5
  const plan = pickCompaction(state([l0, l1, l2]), options);
  assert.equal(plan!.level, 1);
  assert.deepEqual(compactionScores(state([l0, l1, l2]), options).slice(0, 3), [1, 2.5, 1.5]);
  const l2_heavy = [file(20, "a", "z", 400 * MiB)]; // 4.0
  assert.equal(pickCompaction(state([l0, l1, l2_heavy]), options)!.level, 2);
});

Deno.test("pickCompaction: a single file with nothing below is a trivial move", () => {
  const l1 = [file(10, "a", "c", 11 * MiB)];
  const plan = pickCompaction(state([[], l1, [], [file(30, "a", "z")]]), options);
  assert.ok(plan);
  assert.equal(plan.trivial_move, true);
  assert.equal(plan.bottommost, false, "L3 holds keys of the range");
  assert.deepEqual(numbers(plan.grandparents), [30]);
  const with_next = pickCompaction(state([[], l1, [file(20, "c", "d")]]), options);
  assert.equal(with_next!.trivial_move, false);
  assert.equal(with_next!.bottommost, true);
});

Deno.test("pickCompaction: heavy grandparent overlap forbids a trivial move", () => {
  const input = file(10, "a", "z", 11 * MiB);
  const light = [file(40, "b", "c", 2 * MiB)];
  const heavy = Array.from({ length: 12 }, (_, i) => file(40 + i, `b${i}`, `b${i}z`, 2 * MiB));
  // Grandparents of an L1 -> L2 compaction live in L3.
  const light_plan = pickCompaction(state([[], [input], [], light]), options)!;
  assert.deepEqual(numbers(light_plan.grandparents), [40]);
  assert.equal(light_plan.trivial_move, true);
  assert.equal(light_plan.bottommost, false);
  const heavy_plan = pickCompaction(state([[], [input], [], heavy]), options)!;
  assert.equal(heavy_plan.grandparents.length, 12);
  assert.equal(heavy_plan.trivial_move, false, "24 MiB of grandparent overlap > 20 MiB");
});

Deno.test("pickCompaction: bottommost only when no deeper level overlaps the range", () => {
  const l1 = [file(10, "d", "f", 11 * MiB)];
  const deep_disjoint = [file(50, "x", "z")];
  const deep_overlap = [file(50, "e", "z")];
  assert.equal(pickCompaction(state([[], l1, [], [], deep_disjoint]), options)!.bottommost, true);
  assert.equal(pickCompaction(state([[], l1, [], [], deep_overlap]), options)!.bottommost, false);
});

Deno.test("pickCompaction: inputs grow within the level when the next level is unchanged", () => {
  const l1 = [
    file(10, "a", "b", 4 * MiB),
    file(11, "c", "d", 4 * MiB),
    file(12, "e", "f", 4 * MiB),
  ];
  // One L2 file spans a..d: compacting file 10 must rewrite it anyway, so file 11 joins.
  const l2 = [file(20, "a", "d"), file(21, "e", "f")];
  const plan = pickCompaction(state([[], l1, l2]), options);
  assert.deepEqual(numbers(plan!.inputs), [10, 11]);
  assert.deepEqual(numbers(plan!.next_inputs), [20]);
  // Not beyond the expansion limit.
  const tight = resolveCompactionOptions({ expanded_compaction_limit_bytes: 8 * MiB });
  assert.deepEqual(numbers(pickCompaction(state([[], l1, l2]), tight)!.inputs), [10]);
});

Deno.test("pickCompaction: a user key split across files moves down together", () => {
  // File 11 starts with an older version of "c", whose newer version ends file 10.
  const l1 = [
    file(10, "a", "c", 6 * MiB, 100, 50),
    file(11, "c", "e", 6 * MiB, 40, 1),
  ];
  const plan = pickCompaction(state([[], l1]), options);
  assert.deepEqual(numbers(plan!.inputs), [10, 11]);
});

Deno.test("overlappingFiles: expands through chains only when asked", () => {
  const files = [file(1, "a", "c"), file(2, "c", "e"), file(3, "e", "g"), file(4, "h", "i")];
  const a = text.encode("a");
  const b = text.encode("b");
  assert.deepEqual(numbers(overlappingFiles(files, a, b, false)), [1]);
  assert.deepEqual(numbers(overlappingFiles(files, a, b, true)), [1, 2, 3]);
});

Deno.test("planForLevel: rejects a level outside 0..5", () => {
  assert.throws(() => planForLevel(state([]), 6, options), /0\.\.5/);
  assert.equal(planForLevel(state([]), 2, options), null);
});
