import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { MemoryRaftStorage } from "./memory_storage.ts";
import { CompactedError, type Entry, EntryType, UnavailableError } from "./types.ts";

function entry(index: number, term: number, size = 0): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(size) };
}

Deno.test("memory storage: a founding member starts from a snapshot at 1 holding the membership", () => {
  const s = new MemoryRaftStorage({ voters: ["a", "b"], learners: [] });
  deepStrictEqual(s.initialState(), {
    hard_state: { term: 1, vote: null, commit: 1 },
    conf_state: { voters: ["a", "b"], learners: [] },
  });
  strictEqual(s.firstIndex(), 2);
  strictEqual(s.lastIndex(), 1);
  strictEqual(s.term(1), 1);
  const joiner = new MemoryRaftStorage();
  strictEqual(joiner.lastIndex(), 0);
  strictEqual(joiner.initialState().hard_state.term, 0);
});

Deno.test("memory storage: append truncates a conflicting suffix", () => {
  const s = new MemoryRaftStorage({ voters: ["a"], learners: [] });
  s.append([entry(2, 2), entry(3, 2), entry(4, 2)]);
  s.append([entry(3, 3)]);
  deepStrictEqual(s.entries(2, 4, 1 << 20).map((e) => [e.index, e.term]), [[2, 2], [3, 3]]);
  strictEqual(s.lastIndex(), 3);
  throws(() => s.append([entry(9, 3)]), /gap/);
});

Deno.test("memory storage: term and entries report compaction and unavailability", () => {
  const s = new MemoryRaftStorage({ voters: ["a"], learners: [] });
  s.append([entry(2, 2), entry(3, 2), entry(4, 3), entry(5, 3)]);
  s.createSnapshot(4, { voters: ["a"], learners: [] }, new Uint8Array([1]));
  s.compact(3);
  strictEqual(s.firstIndex(), 4);
  strictEqual(s.term(3), 2, "the compaction point keeps its term");
  throws(() => s.term(2), CompactedError);
  throws(() => s.term(6), UnavailableError);
  throws(() => s.entries(3, 5, 100), CompactedError);
  throws(() => s.entries(4, 7, 100), UnavailableError);
  strictEqual(s.snapshot().meta.index, 4);
  strictEqual(s.snapshot().meta.term, 3);
});

Deno.test("memory storage: entries are size-limited but always return the first", () => {
  const s = new MemoryRaftStorage({ voters: ["a"], learners: [] });
  s.append([entry(2, 2, 100), entry(3, 2, 100), entry(4, 2, 100)]);
  strictEqual(s.entries(2, 5, 0).length, 1);
  strictEqual(s.entries(2, 5, 250).length, 2);
  strictEqual(s.entries(2, 5, 1 << 20).length, 3);
});

Deno.test("memory storage: applying a leader's snapshot replaces the log", () => {
  const s = new MemoryRaftStorage({ voters: ["a"], learners: [] });
  s.append([entry(2, 2), entry(3, 2)]);
  s.applySnapshot({
    meta: { index: 10, term: 4, conf_state: { voters: ["x"], learners: [] } },
    data: new Uint8Array(),
  });
  strictEqual(s.firstIndex(), 11);
  strictEqual(s.lastIndex(), 10);
  deepStrictEqual(s.initialState().conf_state.voters, ["x"]);
  throws(
    () =>
      s.applySnapshot({
        meta: { index: 5, term: 4, conf_state: { voters: [], learners: [] } },
        data: new Uint8Array(),
      }),
    /older/,
  );
});
