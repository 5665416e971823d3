import assert from "node:assert/strict";
import { EntryType } from "../core/mod.ts";
import {
  ProposalFailedError,
  ProposalTracker,
  ReadTracker,
  TooManyPendingError,
} from "./proposal_tracker.ts";

const entry = (index: number, term: number) => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array(),
});

Deno.test("ProposalTracker", async (t) => {
  await t.step("resolves a proposal when its entry commits in the same term", async () => {
    const tracker = new ProposalTracker(10);
    const a = tracker.register();
    const b = tracker.register();
    tracker.accepted(5, 2, [a.id, b.id]);
    tracker.committed(entry(5, 2));
    tracker.committed(entry(6, 2));
    assert.deepEqual(await a.promise, { index: 5, term: 2 });
    assert.deepEqual(await b.promise, { index: 6, term: 2 });
    assert.equal(tracker.size, 0);
  });

  await t.step("rejects a proposal whose index committed with another term", async () => {
    const tracker = new ProposalTracker(10);
    const a = tracker.register();
    tracker.accepted(5, 2, [a.id]);
    tracker.committed(entry(5, 3));
    await assert.rejects(a.promise, /replaced by an entry of term 3/);
  });

  await t.step("rejects refused proposals and everything on leadership loss", async () => {
    const tracker = new ProposalTracker(10);
    const a = tracker.register();
    const b = tracker.register();
    const c = tracker.register();
    tracker.rejected("not the leader", [a.id]);
    await assert.rejects(
      a.promise,
      (e: Error) => e instanceof ProposalFailedError && /not the leader/.test(e.message),
    );
    tracker.accepted(1, 1, [b.id]);
    tracker.leadershipLost("now Follower");
    await assert.rejects(
      b.promise,
      /leadership lost \(now Follower\); the proposal may or may not/,
    );
    await assert.rejects(c.promise, /leadership lost/);
    tracker.committed(entry(1, 1)); // a late commit settles nothing twice
  });

  await t.step("bounds the number pending", async () => {
    const tracker = new ProposalTracker(2);
    const a = tracker.register();
    const b = tracker.register();
    assert.throws(
      () => tracker.register(),
      (e: Error) => e instanceof TooManyPendingError && /2 already pending/.test(e.message),
    );
    tracker.rejected("x", [a.id]);
    await assert.rejects(a.promise);
    const c = tracker.register();
    tracker.failAll(new Error("stopped"));
    await assert.rejects(b.promise, /stopped/);
    await assert.rejects(c.promise, /stopped/);
  });
});

Deno.test("ReadTracker resolves a read only once its index is applied", async () => {
  const reads = new ReadTracker(4);
  const early = reads.register(1);
  const late = reads.register(2);
  reads.appliedTo(5);
  reads.readPoint(1, 4);
  assert.equal(await early, 4);
  reads.readPoint(2, 9);
  let settled = false;
  late.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, false);
  reads.appliedTo(9);
  assert.equal(await late, 9);
  const failing = reads.register(3);
  reads.failed(3, "no leader");
  await assert.rejects(failing, /no leader/);
});
