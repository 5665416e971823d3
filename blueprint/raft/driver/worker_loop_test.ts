import assert from "node:assert/strict";
import { FaultyFileSystem } from "../../../shared/fs/mod.ts";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  MessageType,
  RaftNode,
  Role,
  SeededRng,
} from "../core/mod.ts";
import { RaftLogStore } from "../log/mod.ts";
import { CommandTag, decodeEvent, type DriverEvent, EventTag } from "./driver_protocol.ts";
import { WorkerLoop, type WorkerLoopIo } from "./worker_loop.ts";

interface Harness {
  loop: WorkerLoop;
  node: RaftNode;
  events: DriverEvent[];
  sent: Message[];
  /** Everything that happened, in order, for ordering assertions. */
  trace: string[];
  /** Saves block until this is called (when `hold_saves` is set). */
  releaseSaves(): void;
}

async function harness(voters: string[], hold_saves = false): Promise<Harness> {
  const log = await RaftLogStore.open(new FaultyFileSystem(), "/raft", {
    initial_conf_state: { voters, learners: [] },
  });
  const node = new RaftNode({
    id: "a",
    storage: log,
    election_tick: 10,
    heartbeat_tick: 1,
    pre_vote: false,
    check_quorum: false,
    max_inflight_msgs: 16,
    max_size_per_msg_bytes: 1 << 20,
    rng: new SeededRng(1),
  });
  const events: DriverEvent[] = [];
  const sent: Message[] = [];
  const trace: string[] = [];
  let held: (() => void)[] = [];
  let holding = hold_saves;
  const io: WorkerLoopIo = {
    save: async (update) => {
      trace.push(`save-start${update.hard_state ? ` term=${update.hard_state.term}` : ""}`);
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      await log.save(update);
      trace.push("save-done");
    },
    send: (_to, payload) => {
      const message = decodeMessage(payload);
      sent.push(message);
      trace.push(`send ${MessageType[message.type]}`);
      return true;
    },
    emit: (bytes) => {
      const event = decodeEvent(bytes);
      events.push(event);
      trace.push(`emit ${EventTag[event.tag]}`);
      return Promise.resolve();
    },
    snapshot: () => Promise.resolve(),
    setPeer: () => {},
    extraStatus: () => ({}),
    log: (line) => trace.push(`log ${line}`),
  };
  const loop = new WorkerLoop(node, io);
  return {
    loop,
    node,
    events,
    sent,
    trace,
    releaseSaves: () => {
      holding = false;
      const waiting = held;
      held = [];
      for (const resolve of waiting) resolve();
    },
  };
}

async function tickUntil(h: Harness, condition: () => boolean, limit = 100): Promise<void> {
  for (let i = 0; i < limit && !condition(); i++) {
    h.loop.tick();
    await h.loop.idle();
  }
  assert.ok(condition(), "condition not reached within the tick limit");
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("WorkerLoop", async (t) => {
  await t.step("a single voter elects itself, accepts and commits proposals", async () => {
    const h = await harness(["a"]);
    await tickUntil(h, () => h.node.status().soft_state.role === Role.Leader);
    h.loop.receiveCommand({ tag: CommandTag.Propose, id: 7, data: text("x") });
    h.loop.receiveCommand({ tag: CommandTag.Propose, id: 8, data: text("y") });
    await h.loop.idle();
    const accepted = h.events.find((e) => e.tag === EventTag.Accepted);
    assert.ok(accepted && accepted.tag === EventTag.Accepted);
    assert.deepEqual(accepted.ids, [7, 8], "both proposals in one batch");
    const committed = h.events.flatMap((e) => e.tag === EventTag.Applied ? e.entries : []);
    const data = committed.filter((e) => e.data.length > 0).map((e) =>
      new TextDecoder().decode(e.data)
    );
    assert.deepEqual(data, ["x", "y"]);
    assert.equal(committed[committed.length - 1].index, accepted.first_index + 1);
    const leader_event = h.events.find((e) => e.tag === EventTag.Applied && e.leader);
    assert.ok(leader_event?.tag === EventTag.Applied && leader_event.leader?.leader === "a");
  });

  await t.step("a follower refuses proposals, naming that it has no leader", async () => {
    const h = await harness(["a", "b", "c"]);
    h.loop.receiveCommand({ tag: CommandTag.Propose, id: 1, data: text("x") });
    await h.loop.idle();
    const rejected = h.events.find((e) => e.tag === EventTag.Rejected);
    assert.ok(rejected?.tag === EventTag.Rejected);
    assert.deepEqual(rejected.ids, [1]);
    assert.match(rejected.reason, /not the leader \(no leader is known\)/);
  });

  await t.step("a vote is sent only after the vote is durable", async () => {
    const h = await harness(["a", "b", "c"], true);
    const vote: Message = {
      type: MessageType.Vote,
      from: "b",
      to: "a",
      term: 5,
      log_term: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      reject_hint: 0,
    };
    h.loop.receiveMessage(encodeMessage(vote));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const io_order = () => h.trace.filter((line) => /^(save|send)/.test(line));
    assert.deepEqual(io_order(), ["save-start term=5"], "nothing sent while the vote is unsynced");
    h.releaseSaves();
    await h.loop.idle();
    assert.deepEqual(io_order().slice(0, 3), ["save-start term=5", "save-done", "send VoteResp"]);
    assert.equal(h.sent[0].reject, false);
  });

  await t.step(
    "a leader sends its appends and starts its write before announcing acceptance",
    async () => {
      const h = await harness(["a", "b", "c"]);
      await tickUntil(h, () => h.node.status().soft_state.role === Role.Candidate);
      const term = h.node.status().hard_state.term;
      const reply = (type: MessageType, index: number): Message => ({
        type,
        from: "b",
        to: "a",
        term,
        log_term: 0,
        index,
        entries: [],
        commit: 0,
        reject: false,
        reject_hint: 0,
      });
      h.loop.receiveMessage(encodeMessage(reply(MessageType.VoteResp, 0)));
      await h.loop.idle();
      assert.equal(h.node.status().soft_state.role, Role.Leader);
      // b acknowledges the leader's first entry, so its appends are no longer paused probes.
      h.loop.receiveMessage(encodeMessage(reply(MessageType.AppResp, h.node.logBounds().last)));
      await h.loop.idle();
      h.trace.length = 0;
      h.loop.receiveCommand({ tag: CommandTag.Propose, id: 1, data: text("x") });
      await h.loop.idle();
      const accepted_at = h.trace.indexOf("emit Accepted");
      assert.ok(accepted_at > 0, `no acceptance announced: ${h.trace.join(", ")}`);
      const before = h.trace.slice(0, accepted_at);
      assert.ok(before.includes("send App"), `append sent after the announcement: ${h.trace}`);
      assert.ok(
        before.some((line) => line.startsWith("save-start")),
        `write started after the announcement: ${h.trace}`,
      );
    },
  );

  await t.step("a malformed peer message is logged and dropped", async () => {
    const h = await harness(["a"]);
    h.loop.receiveMessage(new Uint8Array([9, 9, 9]));
    await h.loop.idle();
    assert.ok(h.trace.some((line) => /malformed peer message/.test(line)));
    assert.equal(h.loop.fatal, null);
  });

  await t.step("status and stop commands are answered", async () => {
    const h = await harness(["a"]);
    h.loop.receiveCommand({ tag: CommandTag.Status, id: 3 });
    h.loop.receiveCommand({ tag: CommandTag.Stop });
    await h.loop.idle();
    const reply = h.events.find((e) => e.tag === EventTag.Reply);
    assert.ok(reply?.tag === EventTag.Reply && reply.ok && reply.id === 3);
    assert.equal(JSON.parse(reply.json).id, "a");
    assert.equal(h.loop.stop_requested, true);
  });
});
