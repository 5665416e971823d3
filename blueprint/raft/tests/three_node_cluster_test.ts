/**
 * Three real Raft workers on loopback TCP with durable logs on disk: election, commits, the
 * leader killed, a new leader committing, the killed node restarted and catching up.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ConfChangeType,
  type ConfState,
  type Entry,
  ProposalFailedError,
  type RaftNodeConfig,
  type RaftNodeHandle,
  startRaftNode,
} from "../mod.ts";

const IDS = ["a", "b", "c"];
const HOST = "127.0.0.1";

/** Polls `condition` every 10 ms up to `limit_ms` (a liveness bound, not a timing assertion). */
async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  limit_ms = 20_000,
) {
  for (let waited = 0; !(await condition()); waited += 10) {
    if (waited >= limit_ms) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A node plus its replicated state: the non-empty commands applied in order (a snapshot
 * replaces them with its own list).
 */
interface Member {
  handle: RaftNodeHandle;
  state: string[];
  last_index: number;
  snapshots_restored: number;
  done: Promise<void>;
}

function config(id: string, dir: string): RaftNodeConfig {
  return {
    id,
    cluster_id: "three-node-test",
    data_dir: join(dir, id),
    listen: { hostname: HOST, port: 0 },
    peers: {},
    initial_members: IDS,
    tick_ms: 20,
    election_tick: 10,
    heartbeat_tick: 1,
    seed: IDS.indexOf(id) + 1,
  };
}

async function startMember(id: string, dir: string): Promise<Member> {
  const handle = await startRaftNode(config(id, dir));
  const member: Member = {
    handle,
    state: [],
    last_index: 0,
    snapshots_restored: 0,
    done: Promise.resolve(),
  };
  // One member takes its items in batches of up to 3: the same stream, cut differently.
  const items = id === IDS[IDS.length - 1]
    ? (async function* () {
      for await (const batch of handle.committedBatches(3)) {
        assert.ok(batch.length >= 1 && batch.length <= 3, `batch of ${batch.length}`);
        yield* batch;
      }
    })()
    : handle.committed();
  member.done = (async () => {
    for await (const item of items) {
      if (item.kind === "snapshot") {
        member.state = JSON.parse(new TextDecoder().decode(item.snapshot.data));
        member.last_index = item.snapshot.meta.index;
        member.snapshots_restored++;
        continue;
      }
      if (item.entry.data.length > 0) member.state.push(decode(item.entry));
      member.last_index = item.entry.index;
    }
  })();
  return member;
}

function connect(members: Map<string, Member>): void {
  for (const [id, member] of members) {
    for (const [other_id, other] of members) {
      if (id !== other_id) member.handle.setPeer(other_id, other.handle.address);
    }
  }
}

async function leaderOf(members: Map<string, Member>): Promise<Member> {
  let leader: Member | undefined;
  await eventually("a leader known to every live member", () => {
    const leaders = [...members.values()].filter((m) => m.handle.is_leader);
    if (leaders.length !== 1) return false;
    const id = leaders[0].handle.id;
    leader = leaders[0];
    return [...members.values()].every((m) => m.handle.leader === id);
  });
  return leader!;
}

const text = (s: string) => new TextEncoder().encode(s);
const decode = (e: Entry) => new TextDecoder().decode(e.data);

Deno.test({
  name: "three Raft workers: elect, commit, lose the leader, re-elect, catch up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "raft_cluster_" });
    const members = new Map<string, Member>();
    try {
      for (const id of IDS) members.set(id, await startMember(id, dir));
      connect(members);

      await t.step("a second node on the same data directory fails to start", async () => {
        await assert.rejects(
          startRaftNode(config("a", dir)),
          /raft node a failed to start: LockedError: .*LOCK is locked/,
        );
      });

      let leader!: Member;
      await t.step("elects one leader", async () => {
        leader = await leaderOf(members);
      });

      await t.step("commits proposals on every member, in order", async () => {
        const positions = await Promise.all(
          Array.from({ length: 200 }, (_, i) => leader.handle.propose(text(`first-${i}`))),
        );
        for (let i = 1; i < positions.length; i++) {
          assert.equal(positions[i].index, positions[i - 1].index + 1);
        }
        const last = positions[positions.length - 1].index;
        await eventually(
          "all members applied",
          // The member's own count, not the handle's: the handle hands items over before
          // the consumer loop has taken them.
          () => [...members.values()].every((m) => m.last_index >= last),
        );
        const expected = Array.from({ length: 200 }, (_, i) => `first-${i}`);
        for (const member of members.values()) {
          assert.deepEqual(member.state, expected, `member ${member.handle.id}`);
        }
      });

      await t.step("a follower refuses proposals and names the leader", async () => {
        const follower = [...members.values()].find((m) => m !== leader)!;
        await assert.rejects(
          follower.handle.propose(text("nope")),
          (err: Error) =>
            err instanceof ProposalFailedError &&
            err.message.includes(`the leader is ${leader.handle.id}`),
        );
      });

      const killed_id = leader.handle.id;
      await t.step("after the leader is killed a new leader commits", async () => {
        leader.handle.kill();
        await leader.done;
        members.delete(killed_id);
        const next = await leaderOf(members);
        assert.notEqual(next.handle.id, killed_id);
        const positions = await Promise.all(
          Array.from({ length: 50 }, (_, i) => next.handle.propose(text(`second-${i}`))),
        );
        assert.ok(positions.every((p) => p.term > 0));
        leader = next;
      });

      await t.step("the killed node restarts and catches up through a snapshot", async () => {
        // The survivors compact their logs past what the killed node has, so it needs the
        // leader's snapshot, then the entries after it.
        await eventually(
          "leader applied its commits",
          () => leader.last_index >= leader.handle.applied_index,
        );
        for (const member of members.values()) {
          const data = new TextEncoder().encode(JSON.stringify(member.state));
          await member.handle.snapshot(member.last_index, data);
        }
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => leader.handle.propose(text(`third-${i}`))),
        );
        const restarted = await startMember(killed_id, dir);
        members.set(killed_id, restarted);
        connect(members);
        const target = leader.handle.applied_index;
        await eventually("restarted member caught up", () => restarted.last_index >= target);
        const expected = [
          ...Array.from({ length: 200 }, (_, i) => `first-${i}`),
          ...Array.from({ length: 50 }, (_, i) => `second-${i}`),
          ...Array.from({ length: 20 }, (_, i) => `third-${i}`),
        ];
        assert.deepEqual(restarted.state, expected);
        assert.equal(restarted.snapshots_restored, 1);
        const status = await restarted.handle.status();
        assert.equal(status.leader, leader.handle.id);
        assert.ok(status.log.committed >= target);
      });
      await t.step("leadership transfers on request and serves linearizable reads", async () => {
        const target = [...members.values()].find((m) => m !== leader)!;
        const committed_before = leader.handle.applied_index;
        leader.handle.transferLeader(target.handle.id);
        await eventually("the transferee leads", () => target.handle.is_leader);
        const next = await leaderOf(members);
        assert.equal(next.handle.id, target.handle.id);
        const previous = leader;
        leader = next;
        // A new leader refuses reads until it has committed an entry of its term: retry.
        const read = async (member: Member) => {
          let index = -1;
          await eventually("a read index", async () => {
            index = await member.handle.readIndex().catch(() => -1);
            return index >= 0;
          });
          return index;
        };
        const read_index = await read(next);
        assert.ok(read_index >= committed_before, `read index ${read_index} < ${committed_before}`);
        const follower_read = await read(previous);
        assert.ok(follower_read >= committed_before);
        await assert.rejects(previous.handle.propose(text("late")), /not the leader/);
      });

      await t.step("a learner joins, catches up, is promoted, then removed", async () => {
        const voters = async () => ((await leader.handle.status()).conf_state as ConfState).voters;
        await leader.handle.proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "d" });
        const learner = await startMember("d", dir);
        members.set("d", learner);
        connect(members);
        const target = leader.handle.applied_index;
        await eventually(
          "the learner and the leader's consumer reached the target",
          () => learner.last_index >= target && leader.last_index >= target,
        );
        assert.deepEqual(learner.state, leader.state);
        assert.equal(learner.handle.is_leader, false);
        // Promotion is refused until the learner's match reaches the commit index: retry.
        await eventually(
          "d promoted",
          () =>
            leader.handle.proposeConfChange({ type: ConfChangeType.AddVoter, node_id: "d" })
              .then(() => true, () => false),
        );
        await eventually("d votes", async () => (await voters()).includes("d"));
        await eventually(
          "d removal accepted",
          () =>
            leader.handle.proposeConfChange({ type: ConfChangeType.RemoveNode, node_id: "d" })
              .then(() => true, () => false),
        );
        await eventually("d is gone", async () => !(await voters()).includes("d"));
        await learner.handle.stop();
        members.delete("d");
        await leader.handle.propose(text("after-removal"));
      });
    } finally {
      await Promise.all([...members.values()].map((m) => m.handle.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
