import assert from "node:assert/strict";
import { KeepAliveBatcher } from "./keep_alive_batcher.ts";

Deno.test("keep-alive batcher: concurrent renewals share one call; errors reach every waiter", async () => {
  const calls: number[][] = [];
  let fail = false;
  const batcher = new KeepAliveBatcher((ids) => {
    calls.push(ids);
    if (fail) return Promise.reject(new Error("no leader"));
    return Promise.resolve(ids.map((id) => (id === 3 ? 0 : id * 10)));
  });
  const ttls = await Promise.all([1, 2, 3, 2].map((id) => batcher.renew(id)));
  assert.deepEqual(ttls, [10, 20, 0, 20]);
  assert.deepEqual(calls, [[1, 2, 3]]);
  fail = true;
  const failed = await Promise.allSettled([batcher.renew(4), batcher.renew(5)]);
  assert.deepEqual(failed.map((r) => r.status), ["rejected", "rejected"]);
  assert.equal(calls.length, 2);
});
