import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { grpc } from "../../deps.ts";
import {
  checkCount,
  checkSize,
  ETCD_ERRORS,
  etcdError,
  fromServiceError,
  invalidArgument,
  MAX_STATUS_MESSAGE_LENGTH,
  RpcError,
  rpcError,
  Status,
  statusName,
  toRpcError,
  unavailable,
} from "./mod.ts";

Deno.test("rpc errors: codes, details as metadata, and back", () => {
  const error = unavailable("not the leader", { leader_address: "10.0.0.2:2379" });
  strictEqual(error.code, Status.UNAVAILABLE);
  strictEqual(error.codeName, "UNAVAILABLE");
  strictEqual(error.details, "not the leader");
  deepStrictEqual(error.metadata.get("draft-leader_address"), ["10.0.0.2:2379"]);
  const service_error = Object.assign(new Error("14 UNAVAILABLE: not the leader"), {
    code: Status.UNAVAILABLE,
    details: "not the leader",
    metadata: error.metadata,
  }) as grpc.ServiceError;
  const back = fromServiceError(service_error);
  strictEqual(back.message, "not the leader");
  deepStrictEqual(back.info, { leader_address: "10.0.0.2:2379" });
  throws(
    () => rpcError(Status.INTERNAL, "x", { "Bad Key": "v" }),
    /detail key "Bad Key": allowed are a-z, 0-9, _ \. -/,
  );
  strictEqual(
    rpcError(Status.INTERNAL, "y".repeat(10_000)).message.length,
    MAX_STATUS_MESSAGE_LENGTH,
  );
});

Deno.test("rpc errors: anything thrown maps to a status", () => {
  const own = invalidArgument("bad");
  strictEqual(toRpcError(own), own);
  const internal = toRpcError(new TypeError("x is undefined"));
  strictEqual(internal.code, Status.INTERNAL);
  strictEqual(internal.message, "internal error: x is undefined");
  strictEqual(toRpcError("plain").message, "internal error: plain");
  const coded = toRpcError(
    Object.assign(new Error("e"), { code: Status.NOT_FOUND, details: "gone" }),
  );
  ok(coded instanceof RpcError && coded.code === Status.NOT_FOUND && coded.message === "gone");
  strictEqual(statusName(3), "INVALID_ARGUMENT");
  strictEqual(statusName(99), "STATUS_99");
});

Deno.test("limits: checks name what was too large and the limit", () => {
  checkSize("key", 10, 10);
  throws(
    () => checkSize("key", 11, 10),
    (error: RpcError) =>
      error.code === Status.INVALID_ARGUMENT &&
      error.message === "key is 11 bytes; the limit is 10 bytes",
  );
  checkCount("operations in the txn", 128, 128);
  throws(
    () => checkCount("operations in the txn", 129, 128),
    /operations in the txn: 129 given; at most 128 are allowed/,
  );
});

Deno.test("etcd errors: etcd's exact code and text, optionally explained", () => {
  const compacted = etcdError("Compacted");
  strictEqual(compacted.code, Status.OUT_OF_RANGE);
  strictEqual(compacted.message, "etcdserver: mvcc: required revision has been compacted");
  const ops = etcdError("TooManyOps", "129 given; at most 128 are allowed");
  strictEqual(ops.code, Status.INVALID_ARGUMENT);
  strictEqual(
    ops.message,
    "etcdserver: too many operations in txn request: 129 given; at most 128 are allowed",
  );
  const moved = etcdError("LeaderChanged", undefined, { leader_address: "10.0.0.3:2379" });
  strictEqual(moved.code, Status.UNAVAILABLE);
  deepStrictEqual(moved.info, { leader_address: "10.0.0.3:2379" });
  for (const [name, spec] of Object.entries(ETCD_ERRORS)) {
    ok(spec.message.startsWith("etcdserver: "), name);
  }
});
