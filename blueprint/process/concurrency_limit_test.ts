import assert from "node:assert/strict";
import { ConcurrencyLimit } from "./concurrency_limit.ts";

Deno.test("concurrency limit: at most N run, the rest wait in order, a full queue refuses", async () => {
  const limit = new ConcurrencyLimit(2, 3);
  const releases: (() => void)[] = [];
  const started: number[] = [];
  let peak = 0;
  const task = (i: number) => () => {
    started.push(i);
    peak = Math.max(peak, limit.in_flight);
    return new Promise<number>((resolve) => releases.push(() => resolve(i)));
  };
  const runs = [0, 1, 2, 3, 4].map((i) => limit.run(task(i)));
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  assert.equal(limit.waiting, 3);
  await assert.rejects(limit.run(task(9)), /2 calls in flight and 3 waiting; retry later/);
  // Bounded: five tasks, each released once.
  for (let released = 0; released < 5; released++) {
    releases[released]();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.equal(limit.in_flight, 0);
});

Deno.test("concurrency limit: a failing task frees its slot and passes its error on", async () => {
  const limit = new ConcurrencyLimit(1, 1);
  const failed = limit.run(() => Promise.reject(new Error("boom")));
  const next = limit.run(() => Promise.resolve("ok"));
  await assert.rejects(failed, /boom/);
  assert.equal(await next, "ok");
  assert.equal(limit.in_flight, 0);
});

Deno.test("concurrency limit: bad bounds are refused naming what is allowed", () => {
  assert.throws(() => new ConcurrencyLimit(0, 1), /max_in_flight is 0; allowed: an integer >= 1/);
  assert.throws(() => new ConcurrencyLimit(1, -1), /max_waiting is -1; allowed: an integer >= 0/);
});
