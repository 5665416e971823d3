import assert from "node:assert/strict";
import { CompareResult, CompareTarget, toBytes } from "../blueprint/client/mod.ts";
import { parseCondition, parseInteger, parseOperation } from "./kv_command.ts";
import { UsageError } from "./output.ts";

Deno.test("kv txn conditions parse into etcd comparisons", async (t) => {
  await t.step("value comparisons", () => {
    assert.deepEqual(parseCondition("a = hello world"), {
      key: toBytes("a"),
      target: CompareTarget.VALUE,
      result: CompareResult.EQUAL,
      value: toBytes("hello world"),
    });
    assert.equal(parseCondition("a != x").result, CompareResult.NOT_EQUAL);
  });
  await t.step("missing and exists compare the create revision with 0", () => {
    assert.deepEqual(parseCondition("a missing"), {
      key: toBytes("a"),
      target: CompareTarget.CREATE,
      result: CompareResult.EQUAL,
      create_revision: 0n,
    });
    assert.equal(parseCondition("a exists").result, CompareResult.GREATER);
  });
  await t.step("version, create and mod revisions", () => {
    assert.deepEqual(parseCondition("version(k) > 3"), {
      key: toBytes("k"),
      result: CompareResult.GREATER,
      target: CompareTarget.VERSION,
      version: 3n,
    });
    assert.equal(parseCondition("mod(k) < 9").target, CompareTarget.MOD);
    assert.equal(parseCondition("create(k) = 1").target, CompareTarget.CREATE);
  });
  await t.step("anything else is a usage error that lists the forms", () => {
    assert.throws(() => parseCondition("nonsense"), (error: Error) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /"nonsense" is not a condition; allowed: "KEY = VALUE"/);
      return true;
    });
  });
});

Deno.test("kv txn operations parse into etcd request ops", () => {
  assert.deepEqual(parseOperation("put k a b"), {
    request_put: { key: toBytes("k"), value: toBytes("a b") },
  });
  assert.deepEqual(parseOperation("get k"), { request_range: { key: toBytes("k") } });
  assert.deepEqual(parseOperation("del k"), { request_delete_range: { key: toBytes("k") } });
  assert.throws(() => parseOperation("put k"), /allowed: "put KEY VALUE", "get KEY", "del KEY"/);
  assert.throws(() => parseOperation("get k extra"), UsageError);
});

Deno.test("integer flags name the flag and the range", () => {
  assert.equal(parseInteger("--limit", "10", 0, 100), 10);
  assert.throws(
    () => parseInteger("--limit", "ten", 0, 100),
    /--limit is "ten"; allowed: an integer 0 to 100/,
  );
  assert.throws(() => parseInteger("--limit", "101", 0, 100), UsageError);
});
