/**
 * A member whose Raft state was lost (wiped and restarted under its old identity) holds its
 * vote until it has caught up with a leader: it may have voted in the current term before,
 * and a second vote in that term could elect two leaders.
 */
import assert from "node:assert/strict";
import { MemoryRaftStorage } from "./memory_storage.ts";
import { TestCluster } from "./test_cluster.ts";
import { MessageType, Role } from "./types.ts";

const IDS = ["a", "b", "c"];

Deno.test("vote hold: a wiped member neither votes nor campaigns until it has caught up", async (t) => {
  const c = new TestCluster(IDS);
  c.elect("a");
  for (let i = 0; i < 5; i++) c.node("a").propose(new TextEncoder().encode(`x${i}`));
  c.stabilize();

  // "c" loses everything and comes back, holding its vote, cut off from the leader.
  const wiped = c.add("c", new MemoryRaftStorage({ voters: IDS, learners: [] }), {
    vote_hold: true,
  });
  c.isolate("a");
  const since = c.trace.length;

  await t.step("it grants no vote and never campaigns", () => {
    c.cut.delete("b->c");
    c.cut.delete("c->b");
    for (let i = 0; i < 60; i++) {
      c.node("b").tick();
      wiped.node.tick();
      c.stabilize();
    }
    assert.equal(wiped.node.vote_held, true);
    assert.notEqual(wiped.node.status().soft_state.role, Role.Candidate);
    const after_wipe = c.trace.slice(since);
    const granted = after_wipe.filter((m) =>
      m.from === "c" && m.type === MessageType.VoteResp && !m.reject
    );
    assert.deepEqual(granted, [], "c granted a vote while holding it");
    assert.notEqual(c.node("b").status().soft_state.role, Role.Leader, "b cannot win without c");
    assert.ok(
      after_wipe.some((m) => m.from === "c" && m.type === MessageType.VoteResp && m.reject),
      "c answered b's requests with refusals (the test exercised the rule)",
    );
  });

  await t.step("once caught up with the leader it votes again", () => {
    // "c" starts with an empty state and its vote held while "a" and "b" make progress.
    const fresh = new TestCluster(["a", "b"], {});
    const back = fresh.add("c", new MemoryRaftStorage({ voters: IDS, learners: [] }), {
      vote_hold: true,
    });
    for (const id of ["a", "b"]) {
      fresh.add(id, new MemoryRaftStorage({ voters: IDS, learners: [] }));
    }
    fresh.isolate("c");
    fresh.elect("a");
    for (let i = 0; i < 5; i++) fresh.node("a").propose(new TextEncoder().encode(`y${i}`));
    fresh.stabilize();
    assert.equal(back.node.vote_held, true);
    fresh.heal();
    fresh.node("a").propose(new TextEncoder().encode("z"));
    fresh.tickAll(3);
    assert.equal(back.node.status().hard_state.commit, fresh.node("a").status().hard_state.commit);
    assert.equal(back.node.vote_held, false, "caught up: the hold is over");
  });

  await t.step("a new cluster releases the hold when the driver says so", () => {
    const storage = new MemoryRaftStorage({ voters: ["solo"], learners: [] });
    const solo = new TestCluster([]).add("solo", storage, { vote_hold: true });
    for (let i = 0; i < 40; i++) solo.node.tick();
    assert.equal(solo.node.status().soft_state.role, Role.Follower, "held: no campaign");
    solo.node.releaseVoteHold();
    for (let i = 0; i < 40; i++) solo.node.tick();
    assert.notEqual(solo.node.status().soft_state.role, Role.Follower, "released: it campaigns");
  });
});
