import assert from "node:assert/strict";
import { RpcError, Status } from "../../shared/rpc/mod.ts";
import {
  deleteBody,
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
