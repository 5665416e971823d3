import { throws } from "node:assert/strict";
import { type Entry, EntryType, Role } from "../core/mod.ts";
import { type NodeView, SafetyChecker, SafetyViolation } from "./checker.ts";

const BASE = {
  meta: { index: 1, term: 1, conf_state: { voters: ["a", "b"], learners: [] } },
  data: new Uint8Array(),
};

function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

function view(id: string, term: number, log: Entry[], role = Role.Leader): NodeView {
  return {
    id,
    term,
    role,
    first_index: 2,
    last_index: log.length === 0 ? 1 : log[log.length - 1].index,
    termAt: (i) => i === 1 ? 1 : log.find((e) => e.index === i)?.term ?? 0,
  };
}

function checker(): SafetyChecker {
  const c = new SafetyChecker(1, 1);
  for (const id of ["a", "b", "c"]) c.observeSnapshot(id, BASE);
  return c;
}

Deno.test("checker: Election Safety fails on two leaders in one term", () => {
  const c = checker();
  c.observeNode(view("a", 2, []));
  c.observeNode(view("a", 2, []));
  c.observeNode(view("b", 3, []));
  throws(() => c.observeNode(view("c", 2, [])), /Election Safety/);
});

Deno.test("checker: Log Matching fails when equal (index, term) follow different prefixes", () => {
  const c = checker();
  c.observePersist("a", [entry(2, 2, "x"), entry(3, 2, "y")]);
  c.observePersist("b", [entry(2, 2, "x"), entry(3, 2, "y")]);
  throws(
    () => c.observePersist("c", [entry(2, 2, "DIFFERENT"), entry(3, 2, "y")]),
    SafetyViolation,
  );
  throws(() => c.observePersist("c", [entry(5, 2)]), /gap/);
});

Deno.test("checker: State Machine Safety fails when nodes apply different entries at an index", () => {
  const c = checker();
  c.observeApply("a", 2, [entry(2, 2, "x")], []);
  c.observeApply("b", 2, [entry(2, 2, "x")], []);
  throws(() => c.observeApply("c", 2, [entry(2, 3, "z")], []), /State Machine Safety/);
  throws(() => c.observeApply("a", 2, [entry(4, 2)], []), /not in order/);
});

Deno.test("checker: Leader Completeness fails when a later leader lacks a committed entry", () => {
  const c = checker();
  c.observeApply("a", 2, [entry(2, 2, "x")], []);
  throws(() => c.observeNode(view("b", 3, [entry(2, 3)])), /Leader Completeness/);
  throws(() => c.observeNode(view("c", 4, [])), /Leader Completeness/);
  // A current leader of a higher term is checked when the commit becomes known.
  const d = checker();
  d.observeNode(view("b", 5, [entry(2, 4)]));
  throws(
    () => d.observeApply("a", 3, [entry(2, 3)], [view("b", 5, [entry(2, 4)])]),
    /Leader Completeness/,
  );
});

Deno.test("checker: a node that held a committed entry must never replace it", () => {
  const c = checker();
  c.observePersist("a", [entry(2, 2, "x")]);
  c.observeApply("a", 2, [entry(2, 2, "x")], []);
  throws(() => c.observePersist("a", [entry(2, 3, "y")]), /Committed entries never change/);
  // A node that never held it may overwrite its own stale entry there.
  c.observePersist("b", [entry(2, 1, "old")]);
  c.observePersist("b", [entry(2, 2, "x")]);
});

Deno.test("checker: a read index below what was committed when asked is not linearizable", () => {
  const c = checker();
  c.observeRead("a", 5, 5);
  throws(() => c.observeRead("a", 4, 5), /Linearizable read/);
});

Deno.test("checker: persisted term and commit never go backwards", () => {
  const c = checker();
  c.observeHardState("a", { term: 3, vote: "a", commit: 4 });
  c.observeHardState("a", { term: 3, vote: "a", commit: 5 });
  throws(() => c.observeHardState("a", { term: 2, vote: null, commit: 5 }), /Persistent state/);
  c.observeHardState("b", { term: 4, vote: null, commit: 6 });
  throws(() => c.observeHardState("b", { term: 4, vote: null, commit: 5 }), /Persistent state/);
});
