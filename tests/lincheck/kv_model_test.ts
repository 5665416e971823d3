import assert from "node:assert/strict";
import { type KvInput, kvModel, type KvOutput, type KvState } from "./mod.ts";
import { get, put } from "./testing.ts";

function step(state: KvState, input: KvInput, output: KvOutput | undefined) {
  return kvModel.step(state, input, output);
}

const EMPTY: KvState = new Map();
const X_IS_A: KvState = new Map([["x", "a"]]);

Deno.test("kvModel steps", async (t) => {
  await t.step("put sets the value and never fails", () => {
    const after = step(EMPTY, { op: "put", key: "x", value: "a" }, null);
    assert.deepEqual(after, { ok: true, state: X_IS_A });
    assert.equal(EMPTY.size, 0, "the state given is not mutated");
  });

  await t.step("get must see the current value, or null for a missing key", () => {
    const read = { op: "get", key: "x" } as const;
    assert.equal(step(X_IS_A, read, "a").ok, true);
    assert.equal(step(X_IS_A, read, "b").ok, false);
    assert.equal(step(X_IS_A, read, null).ok, false);
    assert.equal(step(EMPTY, read, null).ok, true);
    assert.equal(step(EMPTY, read, undefined).ok, true);
  });

  await t.step("cas swaps only from the expected value and reports which", () => {
    const swap = { op: "cas", key: "x", expected: "a", value: "b" } as const;
    assert.deepEqual(step(X_IS_A, swap, true), { ok: true, state: new Map([["x", "b"]]) });
    assert.equal(step(X_IS_A, swap, false).ok, false);
    assert.deepEqual(step(EMPTY, swap, false), { ok: true, state: EMPTY });
    assert.equal(step(EMPTY, swap, true).ok, false);
    const create = { op: "cas", key: "x", expected: null, value: "c" } as const;
    assert.deepEqual(step(EMPTY, create, true), { ok: true, state: new Map([["x", "c"]]) });
    assert.equal(step(X_IS_A, create, true).ok, false);
  });

  await t.step("cas with unknown outcome applies as the store would", () => {
    const swap = { op: "cas", key: "x", expected: "a", value: "b" } as const;
    assert.deepEqual(step(X_IS_A, swap, undefined), { ok: true, state: new Map([["x", "b"]]) });
    assert.deepEqual(step(EMPTY, swap, undefined), { ok: true, state: EMPTY });
  });

  await t.step("delete removes the key and may report whether it existed", () => {
    const remove = { op: "delete", key: "x" } as const;
    assert.deepEqual(step(X_IS_A, remove, true), { ok: true, state: EMPTY });
    assert.equal(step(X_IS_A, remove, false).ok, false);
    assert.equal(step(EMPTY, remove, true).ok, false);
    assert.equal(step(EMPTY, remove, false).ok, true);
    assert.deepEqual(step(X_IS_A, remove, null), { ok: true, state: EMPTY });
  });

  await t.step("outputs of the wrong type are errors, not violations", () => {
    assert.throws(
      () => step(EMPTY, { op: "get", key: "x" }, true),
      /get\("x"\) has output true; allowed: a string or null, or undefined when unknown/,
    );
    assert.throws(
      () => step(EMPTY, { op: "cas", key: "x", expected: null, value: "a" }, "yes"),
      /cas\("x"\) has output "yes"; allowed: a boolean/,
    );
    assert.throws(
      () => step(EMPTY, { op: "delete", key: "x" }, "1"),
      /allowed: a boolean or null/,
    );
    assert.throws(
      () => step(EMPTY, { op: "increment", key: "x" } as unknown as KvInput, null),
      /unknown op "increment"; allowed: "put", "get", "cas", "delete"/,
    );
  });
});

Deno.test("kvModel state identity", () => {
  const ab = new Map([["a", "1"], ["b", "2"]]);
  const ba = new Map([["b", "2"], ["a", "1"]]);
  assert.equal(kvModel.equal(ab, ba), true);
  assert.equal(kvModel.hash(ab), kvModel.hash(ba));
  assert.equal(kvModel.equal(ab, new Map([["a", "1"]])), false);
  assert.equal(kvModel.equal(new Map([["a", "1"]]), new Map([["a", "2"]])), false);
  assert.notEqual(kvModel.hash(new Map([["a", "1"]])), kvModel.hash(new Map([["a", "2"]])));
  assert.notEqual(kvModel.hash(EMPTY), kvModel.hash(new Map([["", ""]])));
});

Deno.test("kvModel partitions by key, keeping the history's objects", () => {
  const history = [put(1, "a", "1", 0, 1), get(2, "b", null, 0, 1), get(1, "a", "1", 2, 3)];
  const parts = kvModel.partition!(history);
  assert.equal(parts.length, 2);
  assert.deepEqual(parts.find((part) => part[0] === history[0]), [history[0], history[2]]);
  assert.deepEqual(parts.find((part) => part[0] === history[1]), [history[1]]);
  assert.throws(
    () => kvModel.partition!([{ ...history[0], input: {} as KvInput }]),
    /history\[0\]\.input\.key is undefined; allowed: a string/,
  );
});

Deno.test("kvModel describes operations and states for explanations", () => {
  const describe = kvModel.describeOperation!;
  assert.equal(describe({ op: "put", key: "x", value: "1" }, null), 'put("x", "1")');
  assert.equal(describe({ op: "put", key: "x", value: "1" }, undefined), 'put("x", "1") ?');
  assert.equal(describe({ op: "get", key: "x" }, null), 'get("x") -> null');
  assert.equal(describe({ op: "get", key: "x" }, undefined), 'get("x") -> ?');
  assert.equal(
    describe({ op: "cas", key: "x", expected: null, value: "2" }, true),
    'cas("x", null => "2") -> true',
  );
  assert.equal(describe({ op: "delete", key: "x" }, false), 'delete("x") -> false');
  assert.equal(kvModel.describeState!(X_IS_A), '{"x": "a"}');
  assert.equal(kvModel.describeState!(EMPTY), "{}");
  assert.equal(kvModel.isReadOnly!({ op: "get", key: "x" }), true);
  assert.equal(kvModel.isReadOnly!({ op: "delete", key: "x" }), false);
});
