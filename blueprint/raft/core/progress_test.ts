import { ok, strictEqual, throws } from "node:assert/strict";
import { Inflights, Progress } from "./progress.ts";
import { ProgressState } from "./types.ts";

Deno.test("inflights: bounded by count and by bytes, freed in order", () => {
  const w = new Inflights(3, 0);
  w.add(5, 10);
  w.add(7, 10);
  w.add(9, 10);
  ok(w.full());
  throws(() => w.add(11, 1), /full/);
  w.freeLE(7);
  strictEqual(w.count(), 1);
  w.freeFirstOne();
  strictEqual(w.count(), 0);
  const bytes = new Inflights(100, 25);
  bytes.add(1, 20);
  ok(!bytes.full());
  bytes.add(2, 20);
  ok(bytes.full());
  throws(() => new Inflights(0, 0), /max_inflight_msgs/);
});

Deno.test("progress: probe pauses after one send; replicate streams until the window fills", () => {
  const p = new Progress(5, false, 2, 0);
  strictEqual(p.state, ProgressState.Probe);
  ok(!p.isPaused());
  p.probe_sent = true;
  ok(p.isPaused());
  ok(p.maybeUpdate(4));
  ok(!p.isPaused(), "an acknowledgement unpauses");
  p.becomeReplicate();
  strictEqual(p.next, 5);
  p.optimisticUpdate(6);
  p.inflights.add(6, 1);
  p.optimisticUpdate(8);
  p.inflights.add(8, 1);
  ok(p.isPaused());
  strictEqual(p.next, 9);
});

Deno.test("progress: rejections move next back using the hint, stale ones are ignored", () => {
  const p = new Progress(10, false, 4, 0);
  ok(!p.maybeDecrTo(5, 3), "a rejection of an index we did not send last is stale");
  ok(p.maybeDecrTo(9, 3));
  strictEqual(p.next, 4);
  p.maybeUpdate(6);
  p.becomeReplicate();
  ok(!p.maybeDecrTo(6, 0), "at or below match: stale in replicate state");
  ok(p.maybeDecrTo(8, 0));
  strictEqual(p.next, 7);
});

Deno.test("progress: a snapshot pauses until acknowledged, then probing resumes after it", () => {
  const p = new Progress(3, false, 4, 0);
  p.becomeSnapshot(20);
  ok(p.isPaused());
  p.becomeProbe();
  strictEqual(p.next, 21);
});
