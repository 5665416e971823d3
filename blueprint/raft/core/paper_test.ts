/**
 * One test per rule of the Raft paper (Figure 2, §5–§7) and the thesis' additions (PreVote,
 * CheckQuorum, leader transfer, ReadIndex), each named after the rule it checks, in the
 * manner of etcd-io/raft's raft_paper_test.go.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { MemoryRaftStorage } from "./memory_storage.ts";
import { RaftNode } from "./raft.ts";
import { persistReady, TestCluster, testConfig, type TestNodeOverrides } from "./test_cluster.ts";
import {
  ConfChangeType,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  ProgressState,
  ProposalDroppedError,
  Role,
} from "./types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A message with zero values except what is given. */
function msg(fields: Partial<Message> & Pick<Message, "type" | "from" | "to">): Message {
  return {
    term: 0,
    log_term: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    reject_hint: 0,
    ...fields,
  };
}

function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.Normal, data: enc(data) };
}

/** A lone node (its peers are driven by hand through messages). */
class Solo {
  readonly storage: MemoryRaftStorage;
  node: RaftNode;
  readonly applied: Entry[] = [];

  constructor(
    readonly id = "a",
    voters = ["a", "b", "c"],
    readonly overrides: TestNodeOverrides = {},
  ) {
    this.storage = new MemoryRaftStorage({ voters, learners: [] });
    this.node = new RaftNode(testConfig(id, this.storage, overrides));
  }

  /** Handle the Ready (persist, apply, advance) and return the outgoing messages. */
  drain(): Message[] {
    if (!this.node.hasReady()) return [];
    const rd = this.node.ready();
    persistReady(this.storage, rd);
    this.applied.push(...rd.committed_entries);
    this.node.advance(rd);
    return rd.messages;
  }

  role(): Role {
    return this.node.status().soft_state.role;
  }

  term(): number {
    return this.node.status().hard_state.term;
  }

  /** Tick until the node leaves the follower role (bounded). */
  campaign(): void {
    for (let i = 0; i < 100 && this.role() === Role.Follower; i++) this.node.tick();
  }

  /** Campaign and win with votes from b and c. */
  becomeLeader(): void {
    this.campaign();
    const term = this.term();
    this.drain();
    for (const from of ["b", "c"]) {
      this.node.step(msg({ type: MessageType.VoteResp, from, to: this.id, term }));
    }
    this.drain();
  }

  restart(): void {
    this.node = new RaftNode(testConfig(this.id, this.storage, this.overrides));
  }
}

function leaderOf(c: TestCluster): string | undefined {
  for (const [id, m] of c.members) {
    if (m.node.status().soft_state.role === Role.Leader) return id;
  }
  return undefined;
}

// ---------------------------------------------------------------- §5.1

Deno.test("§5.1 a server starts as a follower", () => {
  const s = new Solo();
  strictEqual(s.role(), Role.Follower);
  strictEqual(s.node.status().soft_state.leader, null);
});

Deno.test("§5.1 a server that sees a higher term adopts it and becomes a follower", async (t) => {
  for (const role of ["follower", "candidate", "leader"]) {
    await t.step(role, () => {
      const s = new Solo();
      if (role === "candidate") s.campaign();
      if (role === "leader") s.becomeLeader();
      s.node.step(msg({ type: MessageType.App, from: "b", to: "a", term: 9, index: 0 }));
      strictEqual(s.term(), 9);
      strictEqual(s.role(), Role.Follower);
      strictEqual(s.node.status().soft_state.leader, "b");
    });
  }
});

Deno.test("§5.1 a server with a stale term rejects the request", () => {
  const s = new Solo();
  s.node.step(msg({ type: MessageType.Heartbeat, from: "b", to: "a", term: 5 }));
  s.drain();
  s.node.step(
    msg({
      type: MessageType.App,
      from: "c",
      to: "a",
      term: 3,
      index: 1,
      log_term: 1,
      entries: [entry(2, 3, "x")],
    }),
  );
  s.node.step(msg({ type: MessageType.Vote, from: "c", to: "a", term: 4, index: 9, log_term: 4 }));
  const out = s.drain();
  strictEqual(s.term(), 5);
  strictEqual(s.node.logBounds().last, 1, "stale entries were not appended");
  const vote_resp = out.find((m) => m.type === MessageType.VoteResp);
  ok(vote_resp?.reject, "stale vote request refused");
  strictEqual(vote_resp?.term, 5, "the response tells the sender our term");
});

// ---------------------------------------------------------------- §5.2

Deno.test("§5.2 a leader sends heartbeats to every follower each heartbeat timeout", () => {
  const s = new Solo();
  s.becomeLeader();
  s.drain();
  s.node.tick(); // heartbeat_tick = 1
  const out = s.drain().filter((m) => m.type === MessageType.Heartbeat);
  deepStrictEqual(out.map((m) => m.to).sort(), ["b", "c"]);
  for (const m of out) strictEqual(m.term, s.term());
});

Deno.test("§5.2 a follower that hears nothing for an election timeout starts an election", () => {
  const s = new Solo();
  s.campaign();
  strictEqual(s.role(), Role.Candidate);
  strictEqual(s.term(), 2);
  strictEqual(s.node.status().hard_state.vote, "a", "it votes for itself");
  const votes = s.drain().filter((m) => m.type === MessageType.Vote);
  deepStrictEqual(votes.map((m) => m.to).sort(), ["b", "c"]);
  for (const v of votes) {
    strictEqual(v.term, 2);
    strictEqual(v.index, 1, "carries its last index");
    strictEqual(v.log_term, 1, "and last term");
  }
});

Deno.test("§5.2 a candidate that wins votes from a majority becomes leader", async (t) => {
  const cases: { voters: string[]; grants: string[]; rejects: string[]; role: Role }[] = [
    { voters: ["a"], grants: [], rejects: [], role: Role.Leader },
    { voters: ["a", "b", "c"], grants: ["b"], rejects: [], role: Role.Leader },
    { voters: ["a", "b", "c"], grants: [], rejects: ["b"], role: Role.Candidate },
    { voters: ["a", "b", "c"], grants: [], rejects: ["b", "c"], role: Role.Follower },
    { voters: ["a", "b", "c", "d", "e"], grants: ["b"], rejects: [], role: Role.Candidate },
    { voters: ["a", "b", "c", "d", "e"], grants: ["b", "c"], rejects: ["d"], role: Role.Leader },
  ];
  for (const c of cases) {
    await t.step(`${c.voters.length} voters, +${c.grants} -${c.rejects}`, () => {
      const s = new Solo("a", c.voters);
      s.campaign();
      const term = s.term();
      for (const from of c.grants) {
        s.node.step(msg({ type: MessageType.VoteResp, from, to: "a", term }));
      }
      for (const from of c.rejects) {
        s.node.step(msg({ type: MessageType.VoteResp, from, to: "a", term, reject: true }));
      }
      strictEqual(s.role(), c.role);
    });
  }
});

Deno.test("§5.2 each server votes for at most one candidate in a term, first come first served", () => {
  const s = new Solo();
  s.node.step(msg({ type: MessageType.Vote, from: "b", to: "a", term: 2, index: 1, log_term: 1 }));
  s.node.step(msg({ type: MessageType.Vote, from: "c", to: "a", term: 2, index: 1, log_term: 1 }));
  s.node.step(msg({ type: MessageType.Vote, from: "b", to: "a", term: 2, index: 1, log_term: 1 }));
  const resp = s.drain().filter((m) => m.type === MessageType.VoteResp);
  deepStrictEqual(resp.map((m) => [m.to, m.reject]), [["b", false], ["c", true], ["b", false]]);
  strictEqual(s.node.status().hard_state.vote, "b");
});

Deno.test("§5.2 granting a vote resets the election timer", () => {
  const s = new Solo("b", ["a", "b", "c"], { rng: { nextInt: () => 0 } }); // timeout = 10
  const vote = msg({ type: MessageType.Vote, from: "c", to: "b", term: 2, index: 1, log_term: 1 });
  s.node.step(vote); // the new term alone resets the timer
  for (let i = 0; i < 9; i++) s.node.tick();
  s.node.step(vote); // granted again, in the same term: this grant must reset it too
  for (let i = 0; i < 9; i++) s.node.tick();
  strictEqual(s.role(), Role.Follower, "nine ticks after voting: still waiting");
  s.node.tick();
  strictEqual(s.role(), Role.Candidate);
});

Deno.test("§5.2 a new leader at once sends an append to every follower", () => {
  const s = new Solo("a", ["a", "b", "c", "d", "e"]);
  s.campaign();
  s.drain();
  for (const from of ["b", "c"]) {
    s.node.step(msg({ type: MessageType.VoteResp, from, to: "a", term: s.term() }));
  }
  const apps = s.drain().filter((m) => m.type === MessageType.App);
  deepStrictEqual(apps.map((m) => m.to).sort(), ["b", "c", "d", "e"]);
});

Deno.test("§5.2 a candidate that hears from a leader of its term becomes a follower", () => {
  const s = new Solo();
  s.campaign();
  s.node.step(
    msg({ type: MessageType.App, from: "b", to: "a", term: s.term(), index: 1, log_term: 1 }),
  );
  strictEqual(s.role(), Role.Follower);
  strictEqual(s.node.status().soft_state.leader, "b");
});

Deno.test("§5.2 a candidate whose election times out starts a new one with a higher term", () => {
  const s = new Solo();
  s.campaign();
  strictEqual(s.term(), 2);
  for (let i = 0; i < 40 && s.term() === 2; i++) s.node.tick();
  strictEqual(s.term(), 3);
  strictEqual(s.role(), Role.Candidate);
});

Deno.test("§5.2 election timeouts are randomized in [election_tick, 2 × election_tick)", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const s = new Solo("a", ["a", "b", "c"], {
      rng: { nextInt: (n: number) => (seed * 7) % n },
    });
    let ticks = 0;
    while (s.role() === Role.Follower && ticks < 100) {
      s.node.tick();
      ticks++;
    }
    ok(ticks >= 10 && ticks < 20, `timeout ${ticks} out of [10, 20)`);
    seen.add(ticks);
  }
  ok(seen.size > 3, "timeouts differ between nodes");
});

// ---------------------------------------------------------------- §5.3

Deno.test("§5.3 a leader appends a proposal to its log and replicates it", () => {
  const s = new Solo();
  s.becomeLeader();
  for (const from of ["b", "c"]) {
    s.node.step(msg({ type: MessageType.AppResp, from, to: "a", term: s.term(), index: 2 }));
  }
  s.drain();
  s.node.propose(enc("x"));
  const rd = s.node.ready();
  deepStrictEqual(rd.entries.map((e) => [e.index, e.term, dec(e.data)]), [[3, 2, "x"]]);
  const apps = rd.messages.filter((m) => m.type === MessageType.App);
  deepStrictEqual(apps.map((m) => m.to).sort(), ["b", "c"]);
  for (const m of apps) {
    strictEqual(m.index, 2);
    strictEqual(m.log_term, 2);
    deepStrictEqual(m.entries.map((e) => e.index), [3]);
  }
});

Deno.test("§5.3 an entry is committed once a majority stores it, then applied", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  c.node("a").propose(enc("x"));
  c.stabilize();
  for (const id of ["a", "b"]) {
    ok(c.get(id).applied.some((e) => dec(e.data) === "x"), `${id} applied x`);
  }
  strictEqual(c.get("c").applied.some((e) => dec(e.data) === "x"), false);
});

Deno.test("§5.3 a leader never commits an entry that a majority has not stored", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const commit_before = c.node("a").status().hard_state.commit;
  c.isolate("a");
  c.node("a").propose(enc("x"));
  c.stabilize();
  strictEqual(c.node("a").status().hard_state.commit, commit_before);
  strictEqual(c.get("a").applied.some((e) => dec(e.data) === "x"), false);
});

Deno.test("§5.3 followers apply what the leader reports committed", () => {
  const s = new Solo("b");
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 1,
      log_term: 1,
      entries: [entry(2, 2), entry(3, 2, "x")],
      commit: 1,
    }),
  );
  s.drain();
  strictEqual(s.applied.length, 0);
  s.node.step(msg({ type: MessageType.Heartbeat, from: "a", to: "b", term: 2, commit: 3 }));
  s.drain();
  deepStrictEqual(s.applied.map((e) => e.index), [2, 3]);
});

Deno.test("§5.3 a follower rejects AppendEntries whose previous entry does not match", () => {
  const s = new Solo("b");
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 5,
      log_term: 2,
      entries: [entry(6, 2)],
    }),
  );
  const resp = s.drain().find((m) => m.type === MessageType.AppResp)!;
  ok(resp.reject);
  strictEqual(resp.index, 5, "names the rejected index");
  strictEqual(resp.reject_hint, 1, "hints at its last index");
  strictEqual(s.node.logBounds().last, 1);
});

Deno.test("§5.3 a follower deletes a conflicting suffix and appends the leader's entries", () => {
  const s = new Solo("b");
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 1,
      log_term: 1,
      entries: [entry(2, 2, "x"), entry(3, 2, "y"), entry(4, 2, "z")],
    }),
  );
  s.drain();
  s.node.step(
    msg({
      type: MessageType.App,
      from: "c",
      to: "b",
      term: 3,
      index: 2,
      log_term: 2,
      entries: [entry(3, 3, "w")],
    }),
  );
  s.drain();
  deepStrictEqual(
    s.node.logEntries(2).map((e) => [e.index, e.term, dec(e.data)]),
    [[2, 2, "x"], [3, 3, "w"]],
  );
  deepStrictEqual(s.storage.entries(2, 4, 1 << 20).map((e) => e.term), [2, 3]);
});

Deno.test("§5.3 fast backtracking: a rejection skips the follower's whole conflicting term", () => {
  // Follower b has ten entries of term 2 that the leader (term 4) never had.
  const s = new Solo("b");
  const stale = Array.from({ length: 10 }, (_, i) => entry(2 + i, 2));
  s.node.step(
    msg({
      type: MessageType.App,
      from: "x",
      to: "b",
      term: 2,
      index: 1,
      log_term: 1,
      entries: stale,
    }),
  );
  s.drain();
  s.node.step(msg({ type: MessageType.App, from: "a", to: "b", term: 4, index: 11, log_term: 3 }));
  const resp = s.drain().find((m) => m.type === MessageType.AppResp)!;
  ok(resp.reject);
  // The hint is the last index whose term is ≤ the leader's log term there: 11, term 2.
  strictEqual(resp.reject_hint, 11);
  strictEqual(resp.log_term, 2);
});

Deno.test("§5.3 the leader backs up next_index after rejections until the logs match", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 20; i++) c.node("a").propose(enc(`p${i}`));
  c.stabilize();
  // c missed all of it; after healing the leader probes back and catches it up.
  c.heal();
  c.node("a").propose(enc("after"));
  c.stabilize();
  c.tickAll(2);
  deepStrictEqual(
    c.node("c").logEntries(1).map((e) => e.index),
    c.node("a").logEntries(1).map((e) => e.index),
  );
  strictEqual(c.node("c").status().hard_state.commit, c.node("a").status().hard_state.commit);
});

Deno.test("§5.3 a repeated or reordered AppendEntries does not truncate the entries after it", () => {
  const s = new Solo("b");
  const first = msg({
    type: MessageType.App,
    from: "a",
    to: "b",
    term: 2,
    index: 1,
    log_term: 1,
    entries: [entry(2, 2, "x")],
  });
  s.node.step(first);
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 2,
      log_term: 2,
      entries: [entry(3, 2, "y")],
    }),
  );
  s.drain();
  s.node.step(first); // a late duplicate of the first append
  const resp = s.drain().find((m) => m.type === MessageType.AppResp)!;
  strictEqual(resp.reject, false);
  deepStrictEqual(s.node.logEntries(2).map((e) => dec(e.data)), ["x", "y"]);
});

Deno.test("§5.3 a follower commits min(leader commit, index of the last new entry)", () => {
  const s = new Solo("b");
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 1,
      log_term: 1,
      entries: [entry(2, 2), entry(3, 2)],
      commit: 9,
    }),
  );
  s.drain();
  strictEqual(s.node.status().hard_state.commit, 3);
});

// ---------------------------------------------------------------- §5.4

Deno.test("§5.4.1 a voter denies its vote to a candidate whose log is less up to date", async (t) => {
  // The voter's log ends at index 3, term 2.
  const cases: { index: number; log_term: number; granted: boolean }[] = [
    { index: 3, log_term: 2, granted: true },
    { index: 4, log_term: 2, granted: true },
    { index: 2, log_term: 2, granted: false },
    { index: 9, log_term: 1, granted: false },
    { index: 1, log_term: 3, granted: true },
  ];
  for (const c of cases) {
    await t.step(`candidate last ${c.index}:${c.log_term}`, () => {
      const s = new Solo("b");
      s.node.step(
        msg({
          type: MessageType.App,
          from: "a",
          to: "b",
          term: 2,
          index: 1,
          log_term: 1,
          entries: [entry(2, 2), entry(3, 2)],
        }),
      );
      s.drain();
      s.node.step(
        msg({
          type: MessageType.Vote,
          from: "c",
          to: "b",
          term: 5,
          index: c.index,
          log_term: c.log_term,
        }),
      );
      const resp = s.drain().find((m) => m.type === MessageType.VoteResp)!;
      strictEqual(!resp.reject, c.granted);
    });
  }
});

Deno.test("§5.4.2 a new leader appends an empty entry of its own term", () => {
  const s = new Solo();
  s.becomeLeader();
  const last = s.node.logEntries(1).at(-1)!;
  strictEqual(last.term, s.term());
  strictEqual(last.data.length, 0);
});

Deno.test("§5.4.2 entries of earlier terms are committed only through one of the leader's term", () => {
  // a holds entry 2 of term 2 (replicated to nobody), then wins term 3 with b's vote.
  const s = new Solo();
  s.node.step(
    msg({
      type: MessageType.App,
      from: "c",
      to: "a",
      term: 2,
      index: 1,
      log_term: 1,
      entries: [entry(2, 2, "old")],
    }),
  );
  s.drain();
  s.becomeLeader();
  strictEqual(s.term(), 3);
  s.drain();
  // b acknowledges index 2 (the old-term entry) only: a majority holds it, but it is not
  // from this term, so it must not be committed by counting replicas.
  s.node.step(msg({ type: MessageType.AppResp, from: "b", to: "a", term: 3, index: 2 }));
  s.drain();
  strictEqual(s.node.status().hard_state.commit, 1);
  // Once b also holds the leader's own entry (index 3), both commit.
  s.node.step(msg({ type: MessageType.AppResp, from: "b", to: "a", term: 3, index: 3 }));
  s.drain();
  strictEqual(s.node.status().hard_state.commit, 3);
  deepStrictEqual(s.applied.map((e) => dec(e.data)), ["old", ""]);
});

Deno.test("§5.4.2 Figure 8: an old-term entry replicated to a majority can still be overwritten", () => {
  // One entry per append, so a follower can hold the old entry without the leader's new one.
  const c = new TestCluster(["a", "b", "c", "d", "e"], { max_size_per_msg_bytes: 1 });
  const isolateFrom = (id: string, others: string[]) => {
    for (const o of others) c.cut.add(`${id}->${o}`).add(`${o}->${id}`);
  };
  const campaignUntilLeader = (id: string) => {
    for (let i = 0; i < 200 && c.node(id).status().soft_state.role !== Role.Leader; i++) {
      c.node(id).tick();
      c.stabilize();
    }
    strictEqual(c.node(id).status().soft_state.role, Role.Leader, `${id} leads`);
  };
  c.elect("a"); // term 2; everyone holds the no-op at index 2
  // (a) a replicates x (index 3, term 2) to b only.
  isolateFrom("a", ["c", "d", "e"]);
  c.node("a").propose(enc("x"));
  c.stabilize();
  // (b) a crashes; e wins term 3 with c and d, but its no-op 3:3 reaches nobody.
  c.isolate("a");
  c.drop = (m) => m.from === "e" && m.type === MessageType.App;
  campaignUntilLeader("e");
  // (c) e crashes; a restarts and wins term 4; it gets 3:2 onto c and d, but not 4:4.
  c.isolate("e");
  c.cut.clear();
  isolateFrom("e", ["a", "b", "c", "d"]);
  c.drop = (m) => {
    // The new entry is lost on the way: strip it, so followers still see the append.
    if (m.from === "a" && m.type === MessageType.App) {
      m.entries = m.entries.filter((x) => x.index < 4);
    }
    return false;
  };
  c.add("a", c.get("a").storage);
  campaignUntilLeader("a");
  c.tickAll(3);
  strictEqual(c.node("c").termAt(3), 2, "3:2 is on a majority (a, b, c, d)");
  strictEqual(c.node("a").status().hard_state.commit, 2, "but it is not committed by counting");
  // (d) a crashes; e restarts, wins term 5 (its last term 3 beats 2) and overwrites 3:2.
  c.isolate("a");
  c.cut.clear();
  isolateFrom("a", ["b", "c", "d", "e"]);
  c.drop = () => false;
  c.add("e", c.get("e").storage);
  campaignUntilLeader("e");
  c.tickAll(3);
  strictEqual(c.node("c").termAt(3), 3);
  // State Machine Safety: whoever applied index 3 applied the same entry.
  const at3 = [...c.members.values()].flatMap((m) => m.applied.filter((e) => e.index === 3));
  ok(at3.length >= 3);
  deepStrictEqual(new Set(at3.map((e) => e.term)), new Set([3]));
});

// ---------------------------------------------------------------- §5.5 / persistence

Deno.test("§5.5 a restarted server keeps its term, vote and log", () => {
  const s = new Solo("b");
  s.node.step(msg({ type: MessageType.Vote, from: "c", to: "b", term: 4, index: 1, log_term: 1 }));
  s.drain();
  s.node.step(
    msg({
      type: MessageType.App,
      from: "c",
      to: "b",
      term: 4,
      index: 1,
      log_term: 1,
      entries: [entry(2, 4, "x")],
    }),
  );
  s.drain();
  s.restart();
  deepStrictEqual(s.node.status().hard_state, { term: 4, vote: "c", commit: 1 });
  deepStrictEqual(s.node.logEntries(2).map((e) => dec(e.data)), ["x"]);
  // It still refuses a second candidate in term 4.
  s.node.step(msg({ type: MessageType.Vote, from: "a", to: "b", term: 4, index: 9, log_term: 4 }));
  ok(s.drain().find((m) => m.type === MessageType.VoteResp)?.reject);
});

Deno.test("§5.5 a restart with `applied` does not hand out entries the application already has", () => {
  const c = new TestCluster(["a"]);
  c.elect("a");
  for (const x of ["x", "y", "z"]) c.node("a").propose(enc(x));
  c.stabilize();
  const a = c.get("a");
  const applied = a.node.status().applied;
  const again = c.add("a", a.storage, { applied: applied - 1 });
  c.stabilize();
  deepStrictEqual(again.applied.map((e) => e.index).filter((i) => i <= applied), [applied]);
});

Deno.test("§5.5 messages of a Ready depend only on state in the same Ready (persist first)", () => {
  const s = new Solo("b");
  s.node.step(msg({ type: MessageType.Vote, from: "c", to: "b", term: 4, index: 1, log_term: 1 }));
  const rd = s.node.ready();
  ok(rd.messages.some((m) => m.type === MessageType.VoteResp && !m.reject));
  deepStrictEqual(rd.hard_state, { term: 4, vote: "c", commit: 1 }, "the vote travels with it");
});

// ---------------------------------------------------------------- §6 membership

Deno.test("§6 a new voter counts toward the quorum only once its change is applied", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.add("d", new MemoryRaftStorage());
  c.node("a").proposeConfChange({ type: ConfChangeType.AddVoter, node_id: "d" });
  // Before the change commits, the quorum is 2 of {a,b,c}.
  strictEqual(c.node("a").confState().voters.length, 3);
  c.stabilize();
  deepStrictEqual(c.node("a").confState().voters, ["a", "b", "c", "d"]);
  // Now 3 of 4 are needed: with b and c cut off, nothing commits.
  c.isolate("b");
  c.isolate("c");
  c.cut.delete("a->d");
  c.cut.delete("d->a");
  const commit = c.node("a").status().hard_state.commit;
  c.node("a").propose(enc("x"));
  c.stabilize();
  strictEqual(c.node("a").status().hard_state.commit, commit);
});

Deno.test("§6 only one membership change may be pending at a time", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("a").proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "d" });
  throws(
    () => c.node("a").proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "e" }),
    ProposalDroppedError,
  );
  c.stabilize();
  c.node("a").proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "e" });
  c.stabilize();
  deepStrictEqual(c.node("a").confState().learners, ["d", "e"]);
});

Deno.test("§6 a learner receives the log but never votes toward or starts an election", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const d = c.add("d", new MemoryRaftStorage());
  c.node("a").proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "d" });
  c.stabilize();
  c.tickAll(3);
  c.node("a").propose(enc("x"));
  c.stabilize();
  ok(d.applied.some((e) => dec(e.data) === "x"), "learner applied x");
  deepStrictEqual(d.node.confState().learners, ["d"]);
  for (let i = 0; i < 50; i++) d.node.tick();
  strictEqual(d.node.status().soft_state.role, Role.Follower, "learner never campaigns");
});

Deno.test("§6 a learner is promoted to voter only once caught up", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.add("d", new MemoryRaftStorage());
  c.isolate("d");
  c.node("a").proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "d" });
  c.stabilize();
  throws(
    () => c.node("a").proposeConfChange({ type: ConfChangeType.AddVoter, node_id: "d" }),
    /not caught up/,
  );
  c.heal();
  // The snapshot that would have caught d up was lost; the leader retries it after a timeout.
  c.tickAll(25);
  c.node("a").proposeConfChange({ type: ConfChangeType.AddVoter, node_id: "d" });
  c.stabilize();
  deepStrictEqual(c.node("a").confState(), { voters: ["a", "b", "c", "d"], learners: [] });
  deepStrictEqual(c.node("d").confState(), { voters: ["a", "b", "c", "d"], learners: [] });
});

Deno.test("§6 a removed leader steps down and the rest elect a new one", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("a").proposeConfChange({ type: ConfChangeType.RemoveNode, node_id: "a" });
  c.stabilize();
  strictEqual(c.node("a").status().soft_state.role, Role.Follower);
  c.members.delete("a");
  c.tickAll(30);
  const leader = leaderOf(c);
  ok(leader === "b" || leader === "c", `new leader ${leader}`);
  deepStrictEqual(c.node(leader!).confState().voters, ["b", "c"]);
});

Deno.test("§6 a restarted node recovers committed membership changes from its log", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("a").proposeConfChange({ type: ConfChangeType.AddLearner, node_id: "d" });
  c.stabilize();
  c.tickAll(1);
  const b = c.get("b");
  c.add("b", b.storage);
  deepStrictEqual(c.node("b").confState().learners, ["d"]);
});

// ---------------------------------------------------------------- §7 log compaction

Deno.test("§7 a leader sends a snapshot to a follower whose next entry is compacted", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 10; i++) c.node("a").propose(enc(`p${i}`));
  c.stabilize();
  const a = c.get("a");
  const applied = a.node.status().applied;
  a.storage.createSnapshot(applied, a.node.confState(), enc("state"));
  a.storage.compact(applied);
  c.heal();
  c.tickAll(3);
  ok(c.trace.some((m) => m.type === MessageType.Snap && m.to === "c"), "snapshot sent");
  strictEqual(c.get("c").storage.snapshot().meta.index, applied);
  strictEqual(c.node("c").status().hard_state.commit, a.node.status().hard_state.commit);
});

Deno.test("§7 a follower that installs a snapshot discards its log and adopts its membership", () => {
  const s = new Solo("b");
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 1,
      log_term: 1,
      entries: [entry(2, 2, "x")],
    }),
  );
  s.drain();
  const snapshot = {
    meta: { index: 10, term: 3, conf_state: { voters: ["a", "b", "c", "d"], learners: [] } },
    data: enc("state"),
  };
  s.node.step(msg({ type: MessageType.Snap, from: "c", to: "b", term: 3, snapshot }));
  const rd = s.node.ready();
  strictEqual(rd.snapshot?.meta.index, 10);
  strictEqual(rd.messages.find((m) => m.type === MessageType.AppResp)?.index, 10);
  persistReady(s.storage, rd);
  s.node.advance(rd);
  deepStrictEqual(s.node.logBounds(), { first: 11, last: 10, committed: 10 });
  deepStrictEqual(s.node.confState().voters, ["a", "b", "c", "d"]);
});

Deno.test("§7 a snapshot that is not ahead of the follower's commit is ignored", () => {
  const s = new Solo("b");
  s.node.step(
    msg({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 1,
      log_term: 1,
      entries: [entry(2, 2), entry(3, 2)],
      commit: 3,
    }),
  );
  s.drain();
  const snapshot = {
    meta: { index: 2, term: 2, conf_state: { voters: ["z"], learners: [] } },
    data: enc(""),
  };
  s.node.step(msg({ type: MessageType.Snap, from: "a", to: "b", term: 2, snapshot }));
  const rd = s.node.ready();
  strictEqual(rd.snapshot, undefined);
  strictEqual(rd.messages.find((m) => m.type === MessageType.AppResp)?.index, 3);
  deepStrictEqual(s.node.confState().voters, ["a", "b", "c"]);
});

// ---------------------------------------------------------------- leader transfer (thesis §3.10)

Deno.test("§3.10 leader transfer: the leader catches the target up, then sends TimeoutNow", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  c.node("a").propose(enc("x"));
  c.stabilize();
  c.heal();
  c.node("a").transferLeader("c");
  c.stabilize();
  ok(c.trace.some((m) => m.type === MessageType.TimeoutNow && m.to === "c"));
  strictEqual(leaderOf(c), "c");
  ok(c.node("c").status().hard_state.term > c.node("a").status().hard_state.term - 1);
});

Deno.test("§3.10 a transfer asked of a follower is forwarded to the leader", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("b").transferLeader("c");
  c.stabilize();
  strictEqual(leaderOf(c), "c");
});

Deno.test("§3.10 proposals are refused while a leader transfer is in progress", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  c.node("a").transferLeader("c");
  throws(() => c.node("a").propose(enc("x")), ProposalDroppedError);
});

Deno.test("§3.10 a transfer that does not finish within an election timeout is aborted", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  c.node("a").transferLeader("c");
  strictEqual(c.node("a").status().lead_transferee, "c");
  c.tickAll(10);
  strictEqual(c.node("a").status().lead_transferee, null);
  c.node("a").propose(enc("x")); // accepted again
});

// ---------------------------------------------------------------- ReadIndex (thesis §6.4)

Deno.test("§6.4 ReadIndex: the leader answers only after a heartbeat round confirms it", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("b");
  c.isolate("c");
  c.node("a").readIndex(enc("r1"));
  c.stabilize();
  strictEqual(c.get("a").read_states.length, 0, "no quorum, no answer");
  c.heal();
  c.node("a").readIndex(enc("r2"));
  c.stabilize();
  deepStrictEqual(c.get("a").read_states.map((r) => dec(r.request_ctx)), ["r1", "r2"]);
  strictEqual(c.get("a").read_states[1].index, c.node("a").status().hard_state.commit);
  ok(c.trace.some((m) => m.type === MessageType.Heartbeat && m.context && dec(m.context) === "r2"));
});

Deno.test("§6.4 ReadIndex is refused until the leader has committed an entry of its term", () => {
  const s = new Solo();
  s.becomeLeader();
  throws(() => s.node.readIndex(enc("r")), /not committed an entry in its term/);
});

Deno.test("§6.4 a follower's ReadIndex is answered by the leader", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.node("a").propose(enc("x"));
  c.stabilize();
  c.node("b").readIndex(enc("rb"));
  c.stabilize();
  deepStrictEqual(c.get("b").read_states.map((r) => [dec(r.request_ctx), r.index]), [
    ["rb", c.node("a").status().hard_state.commit],
  ]);
});

Deno.test("§6.4.1 lease-based reads are answered at once when CheckQuorum is on", () => {
  const c = new TestCluster(["a", "b", "c"], { check_quorum: true, read_only_lease_based: true });
  c.elect("a");
  c.isolate("b");
  c.isolate("c");
  c.node("a").readIndex(enc("lease"));
  c.stabilize();
  strictEqual(c.get("a").read_states.length, 1);
  throws(
    () => new RaftNode(testConfig("z", new MemoryRaftStorage(), { read_only_lease_based: true })),
    /requires check_quorum/,
  );
});

// ---------------------------------------------------------------- PreVote (thesis §9.6)

Deno.test("§9.6 PreVote: a pre-candidate asks at term+1 without incrementing its term", () => {
  const s = new Solo("a", ["a", "b", "c"], { pre_vote: true });
  s.campaign();
  strictEqual(s.role(), Role.PreCandidate);
  strictEqual(s.term(), 1);
  strictEqual(s.node.status().hard_state.vote, null);
  const pre = s.drain().filter((m) => m.type === MessageType.PreVote);
  deepStrictEqual(pre.map((m) => m.term), [2, 2]);
});

Deno.test("§9.6 PreVote: a pre-candidate that wins a pre-vote majority starts a real election", () => {
  const s = new Solo("a", ["a", "b", "c"], { pre_vote: true });
  s.campaign();
  s.drain();
  s.node.step(msg({ type: MessageType.PreVoteResp, from: "b", to: "a", term: 2 }));
  strictEqual(s.role(), Role.Candidate);
  strictEqual(s.term(), 2);
  ok(s.drain().some((m) => m.type === MessageType.Vote));
});

Deno.test("§9.6 PreVote: a partitioned node that rejoins does not disrupt the leader", () => {
  const c = new TestCluster(["a", "b", "c"], { pre_vote: true });
  c.elect("a");
  const term = c.node("a").status().hard_state.term;
  c.isolate("c");
  c.node("a").propose(enc("while c was away"));
  c.stabilize();
  for (let i = 0; i < 100; i++) c.node("c").tick();
  c.stabilize();
  strictEqual(c.node("c").status().hard_state.term, term, "pre-votes never raised c's term");
  c.heal();
  // c keeps pre-campaigning after it rejoins: its stale log wins no pre-votes.
  for (let i = 0; i < 40; i++) {
    c.node("c").tick();
    c.stabilize();
  }
  ok(c.trace.some((m) => m.type === MessageType.PreVoteResp && m.reject && m.to === "c"));
  strictEqual(leaderOf(c), "a");
  strictEqual(c.node("a").status().hard_state.term, term);
});

// ---------------------------------------------------------------- CheckQuorum (thesis §6.2)

Deno.test("§6.2 CheckQuorum: a leader that cannot reach a quorum for an election timeout steps down", () => {
  const c = new TestCluster(["a", "b", "c"], { check_quorum: true });
  c.elect("a");
  c.isolate("a");
  for (let i = 0; i < 25 && c.node("a").status().soft_state.role === Role.Leader; i++) {
    c.node("a").tick();
    c.stabilize();
  }
  strictEqual(c.node("a").status().soft_state.role, Role.Follower);
});

Deno.test("§4.2.3 a voter that hears from a leader ignores vote requests within the lease", () => {
  const s = new Solo("b", ["a", "b", "c"], { check_quorum: true });
  s.node.step(msg({ type: MessageType.Heartbeat, from: "a", to: "b", term: 2 }));
  s.drain();
  s.node.step(msg({ type: MessageType.Vote, from: "c", to: "b", term: 3, index: 9, log_term: 9 }));
  deepStrictEqual(s.drain(), []);
  strictEqual(s.term(), 2, "the disruptive term was not adopted");
  // TimeoutNow-driven campaigns (leader transfer) may still interrupt the lease.
  s.node.step(
    msg({
      type: MessageType.Vote,
      from: "c",
      to: "b",
      term: 3,
      index: 9,
      log_term: 9,
      context: new Uint8Array([0x74]),
    }),
  );
  strictEqual(s.term(), 3);
});

// ---------------------------------------------------------------- flow control

Deno.test("flow control: a replicating follower gets at most max_inflight_msgs appends in flight", () => {
  const s = new Solo("a", ["a", "b", "c"], { max_inflight_msgs: 3, max_size_per_msg_bytes: 1 });
  s.becomeLeader();
  s.node.step(msg({ type: MessageType.AppResp, from: "b", to: "a", term: s.term(), index: 2 }));
  s.drain();
  strictEqual(s.node.status().progress.get("b")?.state, ProgressState.Replicate);
  for (let i = 0; i < 10; i++) {
    s.node.propose(enc(`p${i}`));
    s.drain();
  }
  const sent_to_b = (ms: Message[]) => ms.filter((m) => m.type === MessageType.App && m.to === "b");
  // Each App carries one entry (size limit) and only 3 may be in flight.
  strictEqual(s.node.status().progress.get("b")?.next, 6);
  s.node.step(msg({ type: MessageType.AppResp, from: "b", to: "a", term: s.term(), index: 4 }));
  const more = sent_to_b(s.drain());
  deepStrictEqual(more.map((m) => m.entries[0].index), [6, 7]);
});

Deno.test("flow control: a probing follower gets one append until it answers", () => {
  const s = new Solo();
  s.campaign();
  s.drain();
  for (const from of ["b", "c"]) {
    s.node.step(msg({ type: MessageType.VoteResp, from, to: "a", term: s.term() }));
  }
  const to_c = (ms: Message[]) => ms.filter((m) => m.type === MessageType.App && m.to === "c");
  strictEqual(to_c(s.drain()).length, 1, "the new leader probes once");
  strictEqual(s.node.status().progress.get("c")?.state, ProgressState.Probe);
  for (let i = 0; i < 3; i++) s.node.propose(enc(`p${i}`));
  strictEqual(to_c(s.drain()).length, 0, "nothing more while the probe is unanswered");
  s.node.step(msg({ type: MessageType.HeartbeatResp, from: "c", to: "a", term: s.term() }));
  strictEqual(to_c(s.drain()).length, 1, "a heartbeat response allows the next probe");
});

Deno.test("flow control: proposals made before ready() travel in one append per follower", () => {
  const s = new Solo();
  s.becomeLeader();
  for (const from of ["b", "c"]) {
    s.node.step(msg({ type: MessageType.AppResp, from, to: "a", term: s.term(), index: 2 }));
  }
  s.drain();
  for (let i = 0; i < 50; i++) s.node.propose(enc(`p${i}`));
  const apps = s.drain().filter((m) => m.type === MessageType.App);
  strictEqual(apps.length, 2);
  for (const m of apps) strictEqual(m.entries.length, 50);
});

Deno.test("flow control: max_size_per_msg_bytes bounds an append, the first entry always goes", () => {
  const s = new Solo("a", ["a", "b", "c"], { max_size_per_msg_bytes: 100 });
  s.becomeLeader();
  for (const from of ["b", "c"]) {
    s.node.step(msg({ type: MessageType.AppResp, from, to: "a", term: s.term(), index: 2 }));
  }
  s.drain();
  s.node.proposeBatch([new Uint8Array(500), new Uint8Array(10), new Uint8Array(10)]);
  const app = s.drain().find((m) => m.type === MessageType.App && m.to === "b")!;
  strictEqual(app.entries.length, 1);
  strictEqual(app.entries[0].data.length, 500);
});

Deno.test("flow control: a failed snapshot report resumes probing without waiting", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 5; i++) c.node("a").propose(enc(`p${i}`));
  c.stabilize();
  const a = c.get("a");
  const applied = a.node.status().applied;
  a.storage.createSnapshot(applied, a.node.confState(), enc("state"));
  a.storage.compact(applied);
  // c rejects an append (it holds only index 2): the leader must fall back to a snapshot.
  const term = a.node.status().hard_state.term;
  const next = a.node.status().progress.get("c")!.next;
  a.node.step(
    msg({
      type: MessageType.AppResp,
      from: "c",
      to: "a",
      term,
      index: next - 1,
      reject: true,
      reject_hint: 2,
    }),
  );
  c.stabilize();
  strictEqual(a.node.status().progress.get("c")?.state, ProgressState.Snapshot);
  a.node.reportSnapshot("c", false);
  strictEqual(a.node.status().progress.get("c")?.state, ProgressState.Probe);
  c.heal();
  c.tickAll(2);
  strictEqual(c.node("c").status().hard_state.commit, a.node.status().hard_state.commit);
});

Deno.test("flow control: an unreachable follower drops from replicate to probe", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  strictEqual(c.node("a").status().progress.get("b")?.state, ProgressState.Replicate);
  c.node("a").reportUnreachable("b");
  strictEqual(c.node("a").status().progress.get("b")?.state, ProgressState.Probe);
});

Deno.test("flow control: proposals are refused once too many entries wait for commit", () => {
  const c = new TestCluster(["a", "b", "c"], { max_uncommitted_entries: 5 });
  c.elect("a");
  c.isolate("a");
  for (let i = 0; i < 5; i++) c.node("a").propose(enc(`p${i}`));
  throws(
    () => c.node("a").propose(enc("one too many")),
    /5 entries wait for commit; max_uncommitted_entries is 5/,
  );
  c.heal();
  c.tickAll(2);
  c.node("a").propose(enc("accepted again"));
});

Deno.test("configuration errors name the field and the allowed range", () => {
  const storage = new MemoryRaftStorage({ voters: ["a"], learners: [] });
  throws(
    () => new RaftNode(testConfig("a", storage, { election_tick: 1, heartbeat_tick: 1 })),
    /election_tick/,
  );
  throws(
    () => new RaftNode(testConfig("a", storage, { max_inflight_msgs: 0 })),
    /max_inflight_msgs/,
  );
  throws(() => new RaftNode(testConfig("", storage)), /id/);
  const s = new Solo("a", ["a"], { max_entries_per_proposal: 2 });
  s.campaign();
  throws(() => s.node.proposeBatch([enc("1"), enc("2"), enc("3")]), /at most 2 allowed/);
  throws(() => s.node.proposeBatch([]), /at least one/);
});
