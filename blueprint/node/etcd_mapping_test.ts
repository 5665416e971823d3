import assert from "node:assert/strict";
import { RpcError, Status } from "../../shared/rpc/mod.ts";
import {
  deleteBody,
  evaluateReadOnlyTxn,
  isReadOnlyTxn,
  isSerializableTxn,
  KeyValueHasher,
  putBody,
  rangeBody,
  rpcErrorOfKv,
  toSafeNumber,
  txnBody,
} from "./etcd_mapping.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function rpcError(run: () => unknown): RpcError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof RpcError, `${error}`);
    return error;
  }
  throw new Error("expected an RpcError");
}

Deno.test("etcd mapping: requests become KV bodies", () => {
  assert.deepEqual(
    putBody({ key: bytes("k"), value: bytes("v"), lease: 7n, prev_kv: true } as never),
    {
      type: "put",
      key: bytes("k"),
      value: bytes("v"),
      lease: 7,
      prev_kv: true,
      ignore_value: false,
      ignore_lease: false,
    },
  );
  assert.equal(
    deleteBody({ key: bytes("a"), range_end: new Uint8Array(0) } as never).range_end,
    undefined,
  );
  assert.equal(rangeBody({ key: bytes("a"), revision: -5n, limit: 3n } as never).revision, 0);
  const txn = txnBody({
    compare: [
      { key: bytes("a"), target: 3, result: 3, value: bytes("x") },
      { key: bytes("b"), target: 2, result: 2, mod_revision: 9n },
    ],
    success: [{ request: "request_put", request_put: { key: bytes("a"), value: bytes("y") } }],
    failure: [{
      request: "request_txn",
      request_txn: {
        compare: [],
        success: [],
        failure: [{ request: "request_range", request_range: { key: bytes("a") } }],
      },
    }],
  } as never, 10);
  assert.deepEqual(txn.compare.map((c) => [c.target, c.operator, c.operand]), [
    ["value", "!=", bytes("x")],
    ["mod_revision", "<", 9],
  ]);
  assert.equal(txn.success[0].type, "put");
  assert.equal(txn.failure[0].type, "txn");
});

Deno.test("etcd mapping: bad requests get etcd's errors", () => {
  assert.match(
    rpcError(() => putBody({ key: new Uint8Array(0) } as never)).message,
    /key is not provided/,
  );
  assert.match(rpcError(() => toSafeNumber(2n ** 60n, "lease")).message, /lease is \d+; allowed/);
  const ops = Array.from({ length: 3 }, () => ({
    request: "request_put",
    request_put: { key: bytes("k"), value: bytes("v") },
  }));
  const nested = { compare: [], success: ops, failure: [] };
  const too_many = rpcError(() =>
    txnBody(
      {
        compare: [],
        success: [{ request: "request_txn", request_txn: nested }],
        failure: [],
      } as never,
      3,
    )
  );
  assert.equal(too_many.code, Status.INVALID_ARGUMENT);
  assert.match(too_many.message, /^etcdserver: too many operations in txn request/);
  assert.match(
    rpcError(() => txnBody({ compare: [{ key: bytes("a"), target: 9, result: 0 }] } as never, 5))
      .message,
    /compare target 9/,
  );
  assert.match(rpcError(() => txnBody({ success: [{}] } as never, 5)).message, /sets none of/);
});

Deno.test("etcd mapping: KV errors become etcd's codes and texts", () => {
  const cases: [string, number, RegExp][] = [
    ["compacted", Status.OUT_OF_RANGE, /^etcdserver: mvcc: required revision has been compacted$/],
    ["future_revision", Status.OUT_OF_RANGE, /future revision/],
    ["lease_not_found", Status.NOT_FOUND, /requested lease not found/],
    ["lease_exists", Status.FAILED_PRECONDITION, /lease already exists/],
    ["duplicate_key", Status.INVALID_ARGUMENT, /duplicate key given in txn/],
    ["too_old_to_deduplicate", Status.UNAVAILABLE, /retry as a new request/],
    ["invalid_argument", Status.INVALID_ARGUMENT, /^value too long$/],
  ];
  for (const [code, status, pattern] of cases) {
    const error = rpcErrorOfKv({ code: code as never, message: "value too long" });
    assert.equal(error.code, status, code);
    assert.match(error.message, pattern);
  }
  assert.match(
    rpcErrorOfKv({ code: "invalid_argument", message: "request of 9 bytes is larger than max" })
      .message,
    /^etcdserver: request is too large: /,
  );
});

const range = (key: string, serializable = false) => ({
  request: "request_range",
  request_range: { key: bytes(key), serializable },
});

Deno.test("etcd mapping: read-only and serializable txns", () => {
  const txn = (success: unknown[], failure: unknown[] = []) =>
    ({ compare: [], success, failure }) as never;
  assert.equal(isReadOnlyTxn(txn([range("a")], [range("b")])), true);
  assert.equal(isReadOnlyTxn(txn([], [])), true);
  const put = { request: "request_put", request_put: { key: bytes("a") } };
  assert.equal(isReadOnlyTxn(txn([range("a")], [put])), false);
  const nested = (inner: unknown) => ({ request: "request_txn", request_txn: inner });
  assert.equal(isReadOnlyTxn(txn([nested(txn([range("a")]))])), true);
  assert.equal(isReadOnlyTxn(txn([nested(txn([], [put]))])), false);
  let deep: unknown = txn([range("a")]);
  for (let i = 0; i < 12; i++) deep = txn([nested(deep)]);
  assert.equal(isReadOnlyTxn(deep as never), false, "too deep counts as a write");

  assert.equal(isSerializableTxn(txn([range("a", true)], [range("b", true)])), true);
  assert.equal(isSerializableTxn(txn([range("a", true)], [range("b")])), false);
  assert.equal(isSerializableTxn(txn([], [])), false, "compares alone stay linearizable");
  assert.equal(isSerializableTxn(txn([nested(txn([range("a", true)]))])), true);
});

Deno.test("etcd mapping: a read-only txn is evaluated with etcd's compare rules", () => {
  const kv = (key: string, value: string, version: number) => ({
    key: bytes(key),
    value: bytes(value),
    create_revision: 2,
    mod_revision: 3 + version,
    version,
    lease: 0,
  });
  const store = [kv("a", "1", 1), kv("b", "2", 2)];
  const reader = {
    range(key: Uint8Array, range_end: Uint8Array | undefined) {
      const from = new TextDecoder().decode(key);
      const to = range_end ? new TextDecoder().decode(range_end) : undefined;
      const kvs = store.filter((e) => {
        const k = new TextDecoder().decode(e.key);
        return to === undefined ? k === from : k >= from && (to === "\0" || k < to);
      });
      return { type: "range" as const, kvs, more: false, count: kvs.length, revision: 5 };
    },
  };
  const run = (compare: unknown[]) =>
    evaluateReadOnlyTxn(
      txnBody({ compare, success: [range("a")], failure: [range("b")] } as never, 10),
      reader,
    );
  const value = (key: string, v: string, result = 0) => ({
    key: bytes(key),
    target: 3,
    result,
    value: bytes(v),
  });
  assert.equal(run([value("a", "1")]).succeeded, true);
  assert.equal(run([value("a", "2")]).succeeded, false);
  assert.equal(run([value("missing", "")]).succeeded, false, "a missing key fails value compares");
  const version = (key: string, v: bigint, result: number) => ({
    key: bytes(key),
    target: 0,
    result,
    version: v,
  });
  assert.equal(run([version("missing", 0n, 0)]).succeeded, true, "missing compares as zero");
  assert.equal(run([version("b", 1n, 1)]).succeeded, true, "2 > 1");
  assert.equal(run([version("a", 1n, 2)]).succeeded, false, "1 < 1 does not hold");
  const every = { ...version("a", 0n, 1), range_end: bytes("c") };
  assert.equal(run([every]).succeeded, true, "a range compare holds for every key");
  const one_fails = { ...version("a", 1n, 1), range_end: bytes("c") };
  const failed = run([one_fails]);
  assert.equal(failed.succeeded, false);
  assert.deepEqual(failed.responses, [{ type: "range", kvs: [store[1]], more: false, count: 1 }]);
});

Deno.test("etcd mapping: the key-value hash covers every field", () => {
  const base = {
    key: bytes("k"),
    value: bytes("v"),
    create_revision: 1,
    mod_revision: 2,
    version: 1,
    lease: 0,
  };
  const hashOf = (...kvs: (typeof base)[]) => {
    const hasher = new KeyValueHasher();
    for (const kv of kvs) hasher.add(kv);
    return hasher.hash;
  };
  const variants = [
    { ...base, key: bytes("j") },
    { ...base, value: bytes("w") },
    { ...base, create_revision: 2 },
    { ...base, mod_revision: 3 },
    { ...base, version: 2 },
    { ...base, lease: 9 },
    { ...base, key: bytes("kv"), value: new Uint8Array(0) },
  ];
  const hashes = new Set([hashOf(base), ...variants.map((v) => hashOf(v))]);
  assert.equal(hashes.size, variants.length + 1, "each field changes the hash");
  assert.equal(hashOf(base), hashOf({ ...base }), "same pairs, same hash");
  assert.notEqual(hashOf(base, variants[0]), hashOf(variants[0], base), "order matters");
});
