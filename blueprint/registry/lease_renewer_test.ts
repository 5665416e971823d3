import assert from "node:assert/strict";
import { LeaseRenewer, MAX_BATCH_LEASES } from "./lease_renewer.ts";

Deno.test("lease renewer: beats are renewed once per flush, in bounded batches", async (t) => {
  await t.step("repeated beats of one lease cost one id per flush", async () => {
    const renewer = new LeaseRenewer();
    for (let beat = 0; beat < 5; beat++) renewer.touch(7);
    renewer.touch(8);
    const calls: number[][] = [];
    const renewed = await renewer.flush((ids) => {
      calls.push(ids);
      return Promise.resolve(ids.map(() => 10));
    });
    assert.equal(renewed, 2);
    assert.deepEqual(calls, [[7, 8]]);
    assert.equal(renewer.pending, 0);
    assert.equal(await renewer.flush(() => Promise.reject(new Error("not called"))), 0);
  });

  await t.step("more leases than one batch take several calls", async () => {
    const renewer = new LeaseRenewer();
    for (let id = 1; id <= MAX_BATCH_LEASES + 3; id++) renewer.touch(id);
    const sizes: number[] = [];
    await renewer.flush((ids) => {
      sizes.push(ids.length);
      return Promise.resolve(ids.map(() => 10));
    });
    assert.deepEqual(sizes, [MAX_BATCH_LEASES, 3]);
  });

  await t.step("a lease the leader reports gone is remembered until forgotten", async () => {
    const renewer = new LeaseRenewer();
    renewer.touch(1);
    renewer.touch(2);
    await renewer.flush((ids) => Promise.resolve(ids.map((id) => (id === 2 ? 0 : 10))));
    assert.equal(renewer.isGone(1), false);
    assert.equal(renewer.isGone(2), true);
    renewer.forget(2);
    assert.equal(renewer.isGone(2), false);
  });

  await t.step("leases of a failed call wait for the next flush", async () => {
    const renewer = new LeaseRenewer();
    renewer.touch(1);
    renewer.touch(2);
    await assert.rejects(renewer.flush(() => Promise.reject(new Error("no leader"))), /no leader/);
    assert.equal(renewer.pending, 2);
    const calls: number[][] = [];
    await renewer.flush((ids) => {
      calls.push(ids);
      return Promise.resolve(ids.map(() => 10));
    });
    assert.deepEqual(calls, [[1, 2]]);
  });

  await t.step("a short answer is an error, and the leases wait", async () => {
    const renewer = new LeaseRenewer();
    renewer.touch(1);
    renewer.touch(2);
    await assert.rejects(renewer.flush(() => Promise.resolve([10])), /1 TTLs for 2 leases/);
    assert.equal(renewer.pending, 2);
  });

  await t.step("a flush while one runs does nothing", async () => {
    const renewer = new LeaseRenewer();
    renewer.touch(1);
    let release = () => {};
    const first = renewer.flush((ids) =>
      new Promise((resolve) => (release = () => resolve(ids.map(() => 10))))
    );
    renewer.touch(2);
    assert.equal(await renewer.flush(() => Promise.reject(new Error("not called"))), 0);
    release();
    assert.equal(await first, 1);
    assert.equal(renewer.pending, 1);
  });

  await t.step("bad lease ids are refused naming what is allowed", () => {
    const renewer = new LeaseRenewer();
    assert.throws(() => renewer.touch(0), /lease id 0; a positive integer is required/);
    assert.throws(() => renewer.touch(1.5), /a positive integer/);
  });
});
