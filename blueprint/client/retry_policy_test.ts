import assert from "node:assert/strict";
import { etcdError, RpcError, Status } from "../../shared/rpc/mod.ts";
import { backoffMs, decideRetry } from "./retry_policy.ts";

const refused = new RpcError(
  Status.UNAVAILABLE,
  "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1",
);
const dropped = new RpcError(Status.UNAVAILABLE, "Connection dropped");
const timed_out = new RpcError(Status.DEADLINE_EXCEEDED, "Deadline exceeded");

Deno.test("decideRetry", async (t) => {
  await t.step("a refused connection: reads and writes go to the next endpoint", () => {
    for (const kind of ["read", "write"] as const) {
      assert.deepEqual(decideRetry(refused, kind), {
        retry: true,
        switch_endpoint: true,
        leader_address: "",
      });
    }
  });
  await t.step("not leader with an address: the write is repeated at the leader", () => {
    const error = etcdError("NotLeader", undefined, { leader_address: "h:9" });
    assert.deepEqual(decideRetry(error, "write"), {
      retry: true,
      switch_endpoint: false,
      leader_address: "h:9",
    });
  });
  await t.step("no leader: repeated (refused before proposing)", () => {
    assert.equal(decideRetry(etcdError("NoLeader"), "write").retry, true);
  });
  await t.step("an explained refusal may end a proposed write: not repeated", () => {
    const error = etcdError("NoLeader", "no leader took the request within 5000 ms");
    assert.equal(decideRetry(error, "write").retry, false);
    assert.equal(decideRetry(error, "read").retry, true);
  });
  await t.step("a dropped connection or a timeout: reads repeated, writes not", () => {
    for (const error of [dropped, timed_out, etcdError("Timeout")]) {
      assert.equal(decideRetry(error, "read").retry, true, error.message);
      assert.equal(decideRetry(error, "write").retry, false, error.message);
      assert.equal(decideRetry(error, "write").switch_endpoint, true, error.message);
    }
  });
  await t.step("a bad request is never repeated, nor the endpoint left", () => {
    for (const error of [etcdError("EmptyKey"), etcdError("Compacted"), etcdError("TooManyOps")]) {
      for (const kind of ["read", "write"] as const) {
        assert.deepEqual(decideRetry(error, kind), {
          retry: false,
          switch_endpoint: false,
          leader_address: "",
        });
      }
    }
  });
});

Deno.test("backoffMs doubles to the cap, with up to half of it random", () => {
  assert.equal(backoffMs(1, 50, 1000, 0), 25);
  assert.equal(backoffMs(1, 50, 1000, 0.999999), 50);
  assert.equal(backoffMs(3, 50, 1000, 0), 100);
  assert.equal(backoffMs(10, 50, 1000, 0.999999), 1000);
  assert.equal(backoffMs(1000, 50, 1000, 0), 500);
  assert.throws(() => backoffMs(0, 50, 1000, 0), /attempt is 0; allowed: an integer >= 1/);
});
