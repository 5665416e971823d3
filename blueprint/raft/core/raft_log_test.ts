import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { MemoryRaftStorage } from "./memory_storage.ts";
import { limitSize, RaftLog } from "./raft_log.ts";
import { type Entry, EntryType } from "./types.ts";

function entry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}

function logWith(stable: Entry[], unstable: Entry[] = []): RaftLog {
  const storage = new MemoryRaftStorage({ voters: ["a"], learners: [] });
  storage.append(stable);
  const log = new RaftLog(storage);
  log.append(unstable);
  return log;
}

Deno.test("raft log: reads span the stable and unstable parts", () => {
  const log = logWith([entry(2, 1), entry(3, 2)], [entry(4, 2), entry(5, 3)]);
  strictEqual(log.firstIndex(), 2);
  strictEqual(log.lastIndex(), 5);
  strictEqual(log.lastStableIndex(), 3);
  deepStrictEqual(log.slice(2, 6, 1 << 20).map((e) => e.index), [2, 3, 4, 5]);
  strictEqual(log.term(5), 3);
  strictEqual(log.term(9), 0);
});

Deno.test("raft log: maybeAppend resolves conflicts and never touches committed entries", () => {
  const log = logWith([entry(2, 1), entry(3, 1), entry(4, 1)]);
  strictEqual(log.maybeAppend(2, 9, 0, [entry(3, 2)]), undefined, "previous term mismatch");
  strictEqual(log.maybeAppend(2, 1, 3, [entry(3, 2)]), 3);
  deepStrictEqual(log.slice(2, 4, 1 << 20).map((e) => e.term), [1, 2]);
  strictEqual(log.committed, 3);
  throws(() => log.maybeAppend(1, 1, 3, [entry(2, 5)]), /conflicts with committed/);
});

Deno.test("raft log: findConflictByTerm skips a whole term", () => {
  const log = logWith([entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 2), entry(6, 4)]);
  deepStrictEqual(log.findConflictByTerm(6, 3), { index: 5, term: 2 });
  deepStrictEqual(log.findConflictByTerm(5, 1), { index: 2, term: 1 });
});

Deno.test("raft log: maybeCommit only commits an index of the given term", () => {
  const log = logWith([entry(2, 1), entry(3, 2)]);
  ok(!log.maybeCommit(2, 2));
  ok(log.maybeCommit(3, 2));
  strictEqual(log.committed, 3);
  throws(() => log.commitTo(9), /beyond last index/);
});

Deno.test("raft log: stableTo ignores a stale acknowledgement after truncation", () => {
  const log = logWith([], [entry(2, 1), entry(3, 1)]);
  log.append([entry(3, 2)]);
  log.stableTo(3, 1);
  strictEqual(log.lastStableIndex(), 1, "entry 3 was replaced: not stable");
  log.stableTo(3, 2);
  strictEqual(log.lastStableIndex(), 3);
});

Deno.test("limitSize keeps at least one entry", () => {
  const big = [{ ...entry(1, 1), data: new Uint8Array(100) }, entry(2, 1)];
  strictEqual(limitSize(big, 0).length, 1);
  strictEqual(limitSize(big, 1000).length, 2);
});
