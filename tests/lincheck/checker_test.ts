import assert from "node:assert/strict";
import { checkOperations, kvModel, type Model, type Operation } from "./mod.ts";
import { cas, del, get, type KvOperation, put } from "./testing.ts";

function check(history: KvOperation[]) {
  return checkOperations(kvModel, history, { timeout_ms: 5_000 });
}

function assertOk(history: KvOperation[]) {
  const outcome = check(history);
  assert.equal(outcome.result, "ok", outcome.explanation);
}

function illegalOutcome(history: KvOperation[]) {
  const outcome = check(history);
  assert.equal(outcome.result, "illegal", outcome.explanation);
  return outcome;
}

function assertIllegal(history: KvOperation[]): void {
  illegalOutcome(history);
}

Deno.test("linearizable histories", async (t) => {
  await t.step("empty history", () => assertOk([]));

  await t.step("sequential writes and reads of one client", () =>
    assertOk([
      put(1, "x", "1", 0, 1),
      get(1, "x", "1", 2, 3),
      cas(1, "x", "1", "2", true, 4, 5),
      cas(1, "x", "1", "3", false, 6, 7),
      get(1, "x", "2", 8, 9),
      del(1, "x", true, 10, 11),
      get(1, "x", null, 12, 13),
      del(1, "x", false, 14, 15),
      cas(1, "x", null, "4", true, 16, 17),
      get(1, "x", "4", 18, 19),
    ]));

  await t.step("a read of a missing key sees null", () => assertOk([get(1, "x", null, 0, 1)]));

  await t.step("a read concurrent with a write may see either value", () => {
    assertOk([put(1, "x", "1", 0, 10), get(2, "x", null, 2, 8)]);
    assertOk([put(1, "x", "1", 0, 10), get(2, "x", "1", 2, 8)]);
  });

  await t.step("reads overlapping a slow write see old then new", () =>
    assertOk([
      put(1, "x", "1", 0, 100),
      get(2, "x", null, 10, 20),
      get(3, "x", "1", 30, 40),
      get(2, "x", "1", 50, 60),
    ]));

  await t.step("concurrent writes may land in either order", () => {
    const writes = [put(1, "x", "a", 0, 10), put(2, "x", "b", 5, 15)];
    assertOk([...writes, get(3, "x", "a", 20, 21)]);
    assertOk([...writes, get(3, "x", "b", 20, 21)]);
  });

  await t.step(
    "equal times count as concurrent",
    () => assertOk([put(1, "x", "1", 5, 10), get(2, "x", null, 10, 15)]),
  );

  await t.step(
    "the order of the history array does not matter",
    () => assertOk([get(2, "x", "2", 30, 40), put(1, "x", "2", 10, 20), put(1, "x", "1", 0, 5)]),
  );
});

Deno.test("non-linearizable histories", async (t) => {
  await t.step("stale read after a completed write", () => {
    const outcome = illegalOutcome([
      put(1, "x", "1", 0, 10),
      put(1, "x", "2", 20, 30),
      get(2, "x", "1", 40, 50),
    ]);
    assert.equal(outcome.partition?.length, 3);
    assert.deepEqual(
      outcome.longest_linearizable_prefix?.map((operation) => operation.input),
      [{ op: "put", key: "x", value: "1" }, { op: "put", key: "x", value: "2" }],
    );
    assert.match(outcome.explanation, /#2 client 2 get\("x"\) -> "1": not allowed/);
    assert.match(outcome.explanation, /no remaining operation may come next in state \{"x": "2"\}/);
  });

  await t.step("a read seeing a value no one wrote", () => {
    const outcome = illegalOutcome([put(1, "x", "1", 0, 10), get(2, "x", "7", 5, 15)]);
    assert.match(outcome.explanation, /get\("x"\) -> "7": not allowed/);
  });

  await t.step(
    "lost update through cas: two swaps from the same value both succeed",
    () =>
      assertIllegal([
        put(1, "x", "0", 0, 1),
        get(1, "x", "0", 2, 3),
        get(2, "x", "0", 2, 3),
        cas(1, "x", "0", "1", true, 4, 10),
        cas(2, "x", "0", "2", true, 5, 11),
      ]),
  );

  await t.step("the same swaps where the loser reports false are fine", () =>
    assertOk([
      put(1, "x", "0", 0, 1),
      cas(1, "x", "0", "1", true, 4, 10),
      cas(2, "x", "0", "2", false, 5, 11),
      get(3, "x", "1", 12, 13),
    ]));

  await t.step(
    "new then old: a later read sees an older value than an earlier read",
    () =>
      assertIllegal([
        put(1, "x", "1", 0, 100),
        get(2, "x", "1", 10, 20),
        get(3, "x", null, 30, 40),
      ]),
  );

  await t.step("a failed cas must not change the value", () =>
    assertIllegal([
      put(1, "x", "a", 0, 1),
      cas(1, "x", "b", "c", false, 2, 3),
      get(1, "x", "c", 4, 5),
    ]));

  await t.step(
    "a delete reports a key that did not exist as deleted",
    () => assertIllegal([del(1, "x", true, 0, 1)]),
  );
});

Deno.test("unknown outcomes", async (t) => {
  await t.step(
    "a failed put may have taken effect",
    () => assertOk([put(1, "x", "1", 0, Infinity), get(2, "x", "1", 10, 20)]),
  );

  await t.step(
    "a failed put may not have taken effect",
    () => assertOk([put(1, "x", "1", 0, Infinity), get(2, "x", null, 10, 20)]),
  );

  await t.step("a failed put may take effect long after later calls", () =>
    assertOk([
      put(1, "x", "1", 0, Infinity),
      get(2, "x", null, 10, 20),
      put(2, "x", "2", 30, 40),
      get(2, "x", "1", 50, 60),
    ]));

  await t.step("a failed put cannot take effect, then be undone", () =>
    assertIllegal([
      put(1, "x", "1", 0, Infinity),
      get(2, "x", "1", 10, 20),
      get(2, "x", null, 30, 40),
    ]));

  await t.step(
    "a failed put cannot take effect before it was called",
    () => assertIllegal([get(2, "x", "1", 0, 10), put(1, "x", "1", 20, Infinity)]),
  );

  await t.step("a failed cas may or may not have swapped", () => {
    const before = [put(1, "x", "a", 0, 1), cas(1, "x", "a", "b", undefined, 2, Infinity)];
    assertOk([...before, get(2, "x", "b", 10, 11)]);
    assertOk([...before, get(2, "x", "a", 10, 11)]);
    assertOk([...before, get(2, "x", "a", 10, 11), get(2, "x", "b", 12, 13)]);
    assertIllegal([...before, get(2, "x", "b", 10, 11), get(2, "x", "a", 12, 13)]);
  });

  await t.step("a failed cas whose expectation never held cannot swap", () =>
    assertIllegal([
      put(1, "x", "a", 0, 1),
      cas(1, "x", "z", "b", undefined, 2, Infinity),
      get(2, "x", "b", 10, 11),
    ]));

  await t.step("a failed delete may or may not have deleted", () => {
    const before = [put(1, "x", "a", 0, 1), del(1, "x", undefined, 2, Infinity)];
    assertOk([...before, get(2, "x", "a", 10, 11)]);
    assertOk([...before, get(2, "x", null, 10, 11)]);
  });

  await t.step(
    "a read with unknown outcome constrains nothing",
    () => assertOk([put(1, "x", "1", 0, 1), get(2, "x", undefined, 2, Infinity)]),
  );

  await t.step("an outcome unknown but returned took effect by its return", () =>
    assertIllegal([
      put(1, "x", "1", 0, 1),
      cas(1, "x", "1", "2", undefined, 2, 3),
      get(2, "x", "1", 10, 11),
    ]));
});

Deno.test("partitions by key", async (t) => {
  await t.step("keys do not constrain each other", () =>
    assertOk([
      put(1, "a", "1", 0, 10),
      put(2, "b", "1", 0, 10),
      get(1, "a", "1", 20, 30),
      get(2, "b", null, 5, 6),
    ]));

  await t.step("the failing key's operations alone are reported", () => {
    const outcome = illegalOutcome([
      put(1, "a", "1", 0, 10),
      put(2, "b", "1", 0, 10),
      get(3, "b", null, 20, 30),
      get(1, "a", "1", 20, 30),
      put(1, "c", "1", 0, 10),
    ]);
    assert.deepEqual(outcome.partition?.map((operation) => operation.input.key), ["b", "b"]);
    assert.match(
      outcome.explanation,
      /a part of 2 operations fails \(of 3 parts, checked smallest first\)/,
    );
    assert.match(outcome.explanation, /#2 client 3 get\("b"\) -> null/);
  });

  await t.step("the smallest failing part is reported", () => {
    const big_failure = [
      put(1, "big", "1", 0, 1),
      put(1, "big", "2", 2, 3),
      put(1, "big", "3", 4, 5),
      get(1, "big", "1", 6, 7),
    ];
    const small_failure = [put(2, "small", "1", 0, 1), get(2, "small", null, 2, 3)];
    const outcome = illegalOutcome([...big_failure, ...small_failure]);
    assert.deepEqual(outcome.partition, small_failure);
  });

  await t.step("partition() must hand back the history's own operations", () => {
    const copying = {
      ...kvModel,
      partition: (history: readonly KvOperation[]) => [
        history.map((operation) => ({ ...operation })),
      ],
    };
    assert.throws(
      () => checkOperations(copying, [put(1, "x", "1", 0, 1)]),
      /own operation objects, each exactly once/,
    );
    const losing = { ...kvModel, partition: () => [] };
    assert.throws(() => checkOperations(losing, [put(1, "x", "1", 0, 1)]), /covered 0 of 1/);
  });
});

/** A register without partitions or descriptions: the defaults must work. */
const register: Model<number, "read" | number, number> = {
  init: () => 0,
  step: (state, input, output) =>
    input === "read"
      ? { ok: output === undefined || output === state, state }
      : { ok: true, state: input },
  equal: (a, b) => a === b,
  hash: (state) => String(state),
};

function registerOperation(
  input: "read" | number,
  output: number | undefined,
  call_ms: number,
  return_ms: number,
): Operation<"read" | number, number> {
  return { client_id: 0, input, output, call_ms, return_ms };
}

Deno.test("a model without partition or descriptions", () => {
  const ok = checkOperations(register, [
    registerOperation(5, undefined, 0, 10),
    registerOperation("read", 5, 20, 30),
  ]);
  assert.equal(ok.result, "ok", ok.explanation);
  const illegal = checkOperations(register, [
    registerOperation(5, undefined, 0, 10),
    registerOperation("read", 0, 20, 30),
  ]);
  assert.equal(illegal.result, "illegal");
  assert.match(illegal.explanation, /"read" -> 0: not allowed in this state/);
  assert.match(illegal.explanation, /state 5:/);
});

/**
 * Writers of distinct values all concurrent with a read of a value none of them writes: every
 * subset and order of writes must be ruled out, exponential in the writer count.
 */
function hardHistory(writer_count: number): KvOperation[] {
  const writes = Array.from(
    { length: writer_count },
    (_, index) => put(index, "x", `v${index}`, 0, 100),
  );
  return [...writes, get(writer_count, "x", "never written", 0, 100)];
}

Deno.test("bounded search", async (t) => {
  await t.step("past timeout_ms the answer is unknown", () => {
    const outcome = checkOperations(kvModel, hardHistory(40), { timeout_ms: 50 });
    assert.equal(outcome.result, "unknown", outcome.explanation);
    assert.match(outcome.explanation, /out of time \(timeout_ms 50\)/);
  });

  await t.step("past max_cache_entries the answer is unknown", () => {
    const outcome = checkOperations(kvModel, hardHistory(40), {
      timeout_ms: 60_000,
      max_cache_entries: 2_000,
    });
    assert.equal(outcome.result, "unknown", outcome.explanation);
    assert.match(outcome.explanation, /cache full \(max_cache_entries 2000\)/);
  });

  await t.step("a decidable part still fails even when another part is undecided", () => {
    const outcome = checkOperations(
      kvModel,
      [...hardHistory(40), put(1, "y", "1", 0, 1), get(1, "y", "2", 2, 3)],
      { timeout_ms: 50 },
    );
    assert.equal(outcome.result, "illegal", outcome.explanation);
    assert.equal(outcome.partition?.[0].input.key, "y");
  });

  await t.step("a small hard history is decided", () => {
    const outcome = checkOperations(kvModel, hardHistory(8), { timeout_ms: 10_000 });
    assert.equal(outcome.result, "illegal", outcome.explanation);
  });

  await t.step("long explanations are bounded", () => {
    const history: KvOperation[] = [];
    for (let index = 0; index < 500; index++) {
      history.push(put(1, "x", `${index}`, 2 * index, 2 * index + 1));
    }
    history.push(get(1, "x", "0", 1000, 1001));
    const outcome = checkOperations(kvModel, history, { max_explained_operations: 20 });
    assert.equal(outcome.result, "illegal");
    assert.ok(outcome.explanation.split("\n").length < 80, outcome.explanation);
    assert.match(outcome.explanation, /\.\.\. \d+ earlier operations/);
  });
});

Deno.test("bad input is rejected with the rule it breaks", () => {
  assert.throws(
    () => check([put(1, "x", "1", 0, 1), put(1, "x", "1", 5, 4)]),
    /history\[1\]\.return_ms is 4 with call_ms 5; allowed: a number >= call_ms, or Infinity/,
  );
  assert.throws(() => check([put(1, "x", "1", NaN, 1)]), /history\[0\]\.call_ms is NaN/);
  assert.throws(() => check([put(1, "x", "1", 0, NaN)]), /history\[0\]\.return_ms is NaN/);
  assert.throws(
    () => check([{ ...put(1, "x", "1", 0, 1), client_id: "a" as unknown as number }]),
    /history\[0\]\.client_id is a; allowed: a finite number/,
  );
  assert.throws(
    () => checkOperations(kvModel, [], { timeout_ms: -1 }),
    /timeout_ms is -1; allowed: a finite number >= 0/,
  );
  assert.throws(
    () => checkOperations(kvModel, [], { max_cache_entries: 0 }),
    /max_cache_entries is 0; allowed: an integer >= 1/,
  );
});
