/**
 * A seeded, deterministic simulation of a Blueprint Raft cluster: a network that drops,
 * delays, duplicates and reorders messages; symmetric and one-way partitions; crashes that
 * lose everything not yet persisted, and restarts; membership changes, leader transfers,
 * snapshots, reads and proposals throughout. Every step is checked by {@link SafetyChecker};
 * after the chaos phase everything heals and a leader must commit fresh proposals within a
 * bounded simulated time. One seed decides everything, so any failure replays exactly.
 *
 * @module
 */
import {
  type ConfChange,
  ConfChangeType,
  decodeConfChange,
  decodeMessage,
  encodeMessage,
  type Entry,
  EntryType,
  MemoryRaftStorage,
  type Message,
  MessageType,
  type NodeId,
  ProposalDroppedError,
  RaftNode,
  type RaftTestingFaults,
  type Ready,
  Role,
  SeededRng,
} from "../core/mod.ts";
import { type NodeView, SafetyChecker, SafetyViolation } from "./checker.ts";

/** Simulated time units per node tick. */
const MICROTICKS_PER_TICK = 4;
/** Upper bound on messages in flight (a full network drops, like a full socket buffer). */
const MAX_MESSAGES_IN_FLIGHT = 20_000;
/** Most members the cluster may grow to through membership changes. */
const MAX_MEMBERS = 7;
const ELECTION_TICK = 10;
/** Events kept for a failure report. */
const MAX_EVENTS = 200;

/** Knobs of one run; everything else derives from `seed`. */
export interface SimOptions {
  /** The seed everything derives from. */
  seed: number;
  /** Founding voters: 3 or 5 (default: chosen by the seed). */
  node_count?: 3 | 5;
  /** Ticks of chaos before healing. */
  chaos_ticks?: number;
  /** Ticks allowed after healing for a leader to commit fresh proposals. */
  liveness_ticks?: number;
  /** PreVote on/off (default: chosen by the seed). */
  pre_vote?: boolean;
  /** CheckQuorum on/off (default: chosen by the seed). */
  check_quorum?: boolean;
  /** Deliberately broken rules, to show the checkers can fail. */
  testing_faults?: RaftTestingFaults;
  /** Chance per tick of a quick reboot of one member (default 0.04). */
  reboot_chance?: number;
  /** A deliberately broken driver: it persists the hard state without the vote. */
  forget_vote_on_restart?: boolean;
}

/** Outcome of one run. */
export interface SimResult {
  /** The seed. */
  seed: number;
  /** First safety or liveness failure, if any. */
  failure?: string;
  /** The last {@link MAX_EVENTS} notable events (elections, faults, changes), for replays. */
  events: string[];
  /** Counters for the curious. */
  stats: SimStats;
}

/** What happened during a run. */
export interface SimStats {
  /** Simulated ticks run. */
  ticks: number;
  /** Indexes committed. */
  committed: number;
  /** Messages delivered. */
  delivered: number;
  /** Crashes injected. */
  crashes: number;
  /** Membership changes proposed and accepted by a leader. */
  conf_changes: number;
  /** Leader transfers requested. */
  transfers: number;
  /** Snapshots taken by members. */
  snapshots: number;
  /** ReadIndex answers checked. */
  reads: number;
  /** Snapshots installed from a leader. */
  installs: number;
  /** Leaderships observed (a node becoming leader). */
  elections: number;
}

interface InFlight {
  deliver_at: number;
  sequence: number;
  /** The message on the wire: every delivery decodes its own copy, as a real peer would. */
  bytes: Uint8Array;
  to: NodeId;
  from: NodeId;
}

interface SimMember {
  id: NodeId;
  storage: MemoryRaftStorage;
  node: RaftNode | null;
  /** A Ready written but not yet synced: a crash now loses it. */
  unsynced: Ready | null;
  /** The unsynced Ready's messages already went out (leader optimisation). */
  sent_early: boolean;
  /** Microtick offset of this member's clock within a tick. */
  phase: number;
  /** Reads asked: context key → max committed at ask time. */
  reads: Map<string, number>;
  /** Permanently stopped (removed from the cluster). */
  retired: boolean;
}

interface NetworkFaults {
  drop: number;
  duplicate: number;
  max_delay: number;
}

const RELIABLE: NetworkFaults = { drop: 0, duplicate: 0, max_delay: 2 };

/** Run one seeded simulation; never throws for a protocol failure (see `failure`). */
export function runSimulation(options: SimOptions): SimResult {
  const sim = new Simulation(options);
  try {
    sim.run();
  } catch (error) {
    if (!(error instanceof SafetyViolation) && !(error instanceof LivenessFailure)) {
      sim.fail(`unexpected error: ${(error as Error).stack ?? error}`);
    } else {
      sim.fail((error as Error).message);
    }
  }
  return sim.result();
}

/** No leader committed fresh proposals within the bound after healing. */
class LivenessFailure extends Error {
  constructor(detail: string) {
    super(`Liveness: ${detail}`);
    this.name = "LivenessFailure";
  }
}

class Simulation {
  readonly #options: SimOptions;
  readonly #rng: SeededRng;
  readonly #checker: SafetyChecker;
  readonly #members = new Map<NodeId, SimMember>();
  readonly #pre_vote: boolean;
  readonly #check_quorum: boolean;
  /** Whether leaders send before their own write is durable (decided by the seed). */
  readonly #leader_sends_early: boolean;
  /** Flow-control settings, varied by seed so windows and message limits are exercised. */
  readonly #tuning: {
    heartbeat_tick: number;
    max_inflight_msgs: number;
    max_size_per_msg_bytes: number;
  };
  #in_flight: InFlight[] = [];
  #sequence = 0;
  #now = 0;
  #next_node_number: number;
  #proposal_counter = 0;
  #read_counter = 0;
  #faults: NetworkFaults = { drop: 0.05, duplicate: 0.03, max_delay: 8 };
  /** Directed links "a->b" that currently drop everything. */
  #cut = new Set<string>();
  #failure: string | undefined;
  readonly #events: string[] = [];
  /** Sees every applied entry (the liveness phase looks for its fresh proposals). */
  #on_apply: ((entries: Entry[]) => void) | null = null;
  readonly #stats: SimStats = {
    ticks: 0,
    committed: 0,
    delivered: 0,
    crashes: 0,
    conf_changes: 0,
    transfers: 0,
    snapshots: 0,
    reads: 0,
    installs: 0,
    elections: 0,
  };

  constructor(options: SimOptions) {
    this.#options = options;
    this.#rng = new SeededRng(options.seed);
    const count = options.node_count ?? (this.#rng.chance(0.5) ? 3 : 5);
    this.#pre_vote = options.pre_vote ?? this.#rng.chance(0.5);
    this.#check_quorum = options.check_quorum ?? this.#rng.chance(0.5);
    this.#leader_sends_early = this.#rng.chance(0.5);
    this.#tuning = {
      heartbeat_tick: 1 + this.#rng.nextInt(3),
      max_inflight_msgs: 1 + this.#rng.nextInt(8),
      max_size_per_msg_bytes: 32 + this.#rng.nextInt(512),
    };
    const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
    this.#next_node_number = count + 1;
    this.#checker = new SafetyChecker(1, 1);
    for (const id of ids) {
      this.#addMember(id, new MemoryRaftStorage({ voters: ids, learners: [] }));
    }
  }

  #event(text: string): void {
    if (this.#events.length >= MAX_EVENTS) this.#events.shift();
    this.#events.push(`t${this.#stats.ticks} ${text}`);
  }

  fail(message: string): void {
    this.#failure ??= `${message} (at tick ${this.#stats.ticks})`;
  }

  result(): SimResult {
    this.#stats.committed = this.#checker.committedCount();
    return {
      seed: this.#options.seed,
      failure: this.#failure,
      stats: this.#stats,
      events: this.#events,
    };
  }

  run(): void {
    const chaos_ticks = this.#options.chaos_ticks ?? 200;
    for (let t = 0; t < chaos_ticks; t++) {
      this.#chaos();
      this.#runTick();
    }
    this.#heal();
    this.#requireLiveness(this.#options.liveness_ticks ?? 150);
  }

  // ------------------------------------------------------------ members

  #addMember(id: NodeId, storage: MemoryRaftStorage): SimMember {
    const member: SimMember = {
      id,
      storage,
      node: null,
      phase: this.#rng.nextInt(MICROTICKS_PER_TICK),
      reads: new Map(),
      retired: false,
      unsynced: null,
      sent_early: false,
    };
    this.#members.set(id, member);
    this.#checker.observeSnapshot(id, storage.snapshot());
    this.#start(member);
    return member;
  }

  #start(member: SimMember): void {
    member.node = new RaftNode({
      id: member.id,
      storage: member.storage,
      election_tick: ELECTION_TICK,
      heartbeat_tick: this.#tuning.heartbeat_tick,
      pre_vote: this.#pre_vote,
      check_quorum: this.#check_quorum,
      max_inflight_msgs: this.#tuning.max_inflight_msgs,
      max_size_per_msg_bytes: this.#tuning.max_size_per_msg_bytes,
      rng: this.#rng.fork(),
      testing_faults: this.#options.testing_faults,
    });
    member.reads.clear();
    this.#event(`start ${member.id}`);
    this.#checker.observeRestart(member.id, member.storage.snapshot().meta.index);
  }

  #crash(member: SimMember): void {
    // Whatever the node held in memory (unpersisted entries, unsent messages) is lost.
    member.node = null;
    member.unsynced = null;
    this.#stats.crashes++;
    this.#event(`crash ${member.id}`);
  }

  #live(): SimMember[] {
    return [...this.#members.values()].filter((m) => m.node !== null);
  }

  #leaders(): SimMember[] {
    return this.#live().filter((m) => m.node!.role === Role.Leader);
  }

  #view(member: SimMember): NodeView {
    const node = member.node!;
    const bounds = node.logBounds();
    return {
      id: member.id,
      term: node.term,
      role: node.role,
      first_index: bounds.first,
      last_index: bounds.last,
      termAt: (i) => node.termAt(i),
    };
  }

  #check(member: SimMember): void {
    if (member.node) this.#checker.observeNode(this.#view(member));
  }

  // ------------------------------------------------------------ time

  #runTick(): void {
    for (let micro = 0; micro < MICROTICKS_PER_TICK; micro++) {
      this.#now++;
      this.#deliverDue();
      for (const member of this.#members.values()) {
        if (!member.node) continue;
        if (this.#now % MICROTICKS_PER_TICK === member.phase) {
          member.node.tick();
          this.#check(member);
        }
        // A slow disk: a Ready is written, and synced some time later; the node keeps
        // stepping meanwhile, and a crash in between loses the write.
        if (!this.#rng.chance(0.6)) continue;
        if (member.unsynced) this.#syncReady(member);
        else if (member.node.hasReady()) this.#writeReady(member);
      }
    }
    this.#stats.ticks++;
  }

  #deliverDue(): void {
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.#in_flight) (f.deliver_at <= this.#now ? due : rest).push(f);
    if (due.length === 0) return;
    this.#in_flight = rest;
    due.sort((a, b) => a.deliver_at - b.deliver_at || a.sequence - b.sequence);
    for (const { bytes, from, to } of due) {
      if (this.#cut.has(`${from}->${to}`)) {
        if (this.#rng.chance(0.2)) this.#reportLoss(decodeMessage(bytes));
        continue;
      }
      const target = this.#members.get(to);
      if (!target?.node || target.retired) continue;
      target.node.step(decodeMessage(bytes));
      this.#stats.delivered++;
      this.#check(target);
    }
  }

  #send(message: Message): void {
    if (this.#rng.chance(this.#faults.drop)) {
      this.#reportLoss(message);
      return;
    }
    const copies = this.#rng.chance(this.#faults.duplicate) ? 2 : 1;
    const bytes = encodeMessage(message);
    for (let i = 0; i < copies; i++) {
      if (this.#in_flight.length >= MAX_MESSAGES_IN_FLIGHT) return;
      this.#in_flight.push({
        deliver_at: this.#now + 1 + this.#rng.nextInt(this.#faults.max_delay),
        sequence: this.#sequence++,
        bytes,
        to: message.to,
        from: message.from,
      });
    }
  }

  /** Like a transport that notices a failed send, sometimes tell the sender about it. */
  #reportLoss(message: Message): void {
    const sender = this.#members.get(message.from)?.node;
    if (!sender || !this.#rng.chance(0.5)) return;
    if (message.type === MessageType.Snap) sender.reportSnapshot(message.to, false);
    else if (message.type === MessageType.App) sender.reportUnreachable(message.to);
  }

  /** The first half of the driver loop: take a Ready and start writing it. */
  #writeReady(member: SimMember): void {
    const node = member.node!;
    const rd = node.ready();
    member.unsynced = rd;
    member.sent_early = false;
    // The leader optimisation of thesis §10.2.1 (the real driver uses it): a leader whose
    // term and vote are already durable may send its appends before its own write syncs.
    if (!this.#leader_sends_early || rd.snapshot) return;
    const role = rd.soft_state?.role ?? node.role;
    const durable = member.storage.hardState();
    const hs = rd.hard_state;
    if (role !== Role.Leader) return;
    if (hs && (hs.term !== durable.term || hs.vote !== durable.vote)) return;
    if (!member.sent_early) { for (const m of rd.messages) this.#send(m); }
    member.sent_early = true;
  }

  /** The second half of the driver loop for one Ready: sync, send, apply, advance. */
  #syncReady(member: SimMember): void {
    const node = member.node!;
    const rd = member.unsynced!;
    member.unsynced = null;
    if (rd.soft_state?.role === Role.Leader) {
      this.#stats.elections++;
      this.#event(`${member.id} leads term ${node.term}`);
    }
    if (rd.snapshot) {
      this.#stats.installs++;
      member.storage.applySnapshot(rd.snapshot);
      this.#checker.observeSnapshot(member.id, rd.snapshot);
    }
    member.storage.append(rd.entries);
    this.#checker.observePersist(member.id, rd.entries);
    if (rd.hard_state) {
      const forget = this.#options.forget_vote_on_restart === true;
      member.storage.setHardState(forget ? { ...rd.hard_state, vote: null } : rd.hard_state);
      this.#checker.observeHardState(member.id, rd.hard_state);
    }
    for (const m of rd.messages) this.#send(m);
    const term = node.term;
    const leaders = this.#leaders().map((m) => this.#view(m));
    this.#checker.observeApply(member.id, term, rd.committed_entries, leaders);
    this.#on_apply?.(rd.committed_entries);
    this.#applyMembership(rd.committed_entries);
    for (const rs of rd.read_states) this.#checkRead(member, rs.index, rs.request_ctx);
    node.advance(rd);
    this.#check(member);
  }

  #applyMembership(entries: Entry[]): void {
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue;
      const change = decodeConfChange(e.data);
      if (change.type !== ConfChangeType.RemoveNode) continue;
      // A removed member is shut down, as an operator would.
      const member = this.#members.get(change.node_id);
      if (member && !member.retired) {
        member.retired = true;
        member.node = null;
        member.unsynced = null;
      }
    }
  }

  #checkRead(member: SimMember, index: number, context: Uint8Array): void {
    const key = new TextDecoder().decode(context);
    const committed_when_asked = member.reads.get(key);
    if (committed_when_asked === undefined) return;
    member.reads.delete(key);
    this.#checker.observeRead(member.id, index, committed_when_asked);
    this.#stats.reads++;
  }

  // ------------------------------------------------------------ chaos

  #chaos(): void {
    const rng = this.#rng;
    const live = this.#live();
    const pick = <T>(xs: T[]): T | undefined =>
      xs.length === 0 ? undefined : xs[rng.nextInt(xs.length)];
    if (rng.chance(0.4)) this.#propose(pick(live));
    if (rng.chance(0.015)) {
      const victim = pick(live);
      if (victim) this.#crash(victim);
    }
    if (rng.chance(this.#options.reboot_chance ?? 0.04)) {
      // A quick reboot: whatever was not synced is gone, the rest comes straight back.
      const victim = pick(live);
      if (victim) {
        this.#crash(victim);
        this.#start(victim);
      }
    }
    if (rng.chance(0.08)) {
      const down = [...this.#members.values()].filter((m) => !m.node && !m.retired);
      const back = pick(down);
      if (back) this.#start(back);
    }
    if (rng.chance(0.02)) this.#partition();
    if (rng.chance(0.03) && this.#cut.size > 0) {
      this.#cut.clear();
      this.#event("heal partitions");
    }
    if (rng.chance(0.02)) this.#changeNetwork();
    if (rng.chance(0.02)) this.#changeMembership();
    if (rng.chance(0.01)) this.#transferLeadership();
    if (rng.chance(0.03)) this.#snapshot(pick(live));
    if (rng.chance(0.15)) this.#read(pick(live));
  }

  #propose(member: SimMember | undefined): void {
    if (!member?.node) return;
    const batch = 1 + this.#rng.nextInt(3);
    const datas = Array.from(
      { length: batch },
      () => new TextEncoder().encode(`p${this.#proposal_counter++}`),
    );
    try {
      member.node.proposeBatch(datas);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  #partition(): void {
    const ids = [...this.#members.keys()];
    this.#cut.clear();
    const kind = this.#rng.nextInt(3);
    if (kind === 0) {
      // Symmetric split into two sides.
      const side = new Set(ids.filter(() => this.#rng.chance(0.5)));
      for (const a of ids) {
        for (const b of ids) if (side.has(a) !== side.has(b)) this.#cut.add(`${a}->${b}`);
      }
    } else if (kind === 1) {
      // One-way: a node can send but not receive (or the reverse).
      const id = ids[this.#rng.nextInt(ids.length)];
      const inbound = this.#rng.chance(0.5);
      for (const other of ids) {
        if (other !== id) this.#cut.add(inbound ? `${other}->${id}` : `${id}->${other}`);
      }
    } else {
      // Isolate the current leader.
      const leader = this.#leaders()[0];
      if (!leader) return;
      for (const other of ids) {
        if (other === leader.id) continue;
        this.#cut.add(`${leader.id}->${other}`);
        this.#cut.add(`${other}->${leader.id}`);
      }
    }
    this.#event(`partition: cut ${[...this.#cut].join(" ") || "nothing"}`);
  }

  #changeNetwork(): void {
    this.#faults = {
      drop: this.#rng.nextInt(20) / 100,
      duplicate: this.#rng.nextInt(10) / 100,
      max_delay: 1 + this.#rng.nextInt(12),
    };
    this.#event(`network ${JSON.stringify(this.#faults)}`);
  }

  #changeMembership(): void {
    const leader = this.#leaders()[0];
    if (!leader?.node) return;
    const conf = leader.node.confState();
    const choice = this.#rng.nextInt(3);
    const members = conf.voters.length + conf.learners.length;
    let change: ConfChange;
    if (choice === 0 && members < MAX_MEMBERS) {
      change = { type: ConfChangeType.AddLearner, node_id: `n${this.#next_node_number}` };
    } else if (choice === 1 && conf.learners.length > 0 && conf.voters.length < 5) {
      const id = conf.learners[this.#rng.nextInt(conf.learners.length)];
      change = { type: ConfChangeType.AddVoter, node_id: id };
    } else if (choice === 2 && conf.voters.length > 3) {
      const id = conf.voters[this.#rng.nextInt(conf.voters.length)];
      change = { type: ConfChangeType.RemoveNode, node_id: id };
    } else {
      return;
    }
    try {
      leader.node.proposeConfChange(change);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      return;
    }
    this.#stats.conf_changes++;
    this.#event(`${leader.id} proposes ${ConfChangeType[change.type]} ${change.node_id}`);
    if (change.type === ConfChangeType.AddLearner) {
      this.#next_node_number++;
      this.#addMember(change.node_id, new MemoryRaftStorage());
    }
  }

  #transferLeadership(): void {
    const leader = this.#leaders()[0];
    if (!leader?.node) return;
    const voters = leader.node.confState().voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = voters[this.#rng.nextInt(voters.length)];
    leader.node.transferLeader(to);
    this.#stats.transfers++;
    this.#event(`${leader.id} transfers leadership to ${to}`);
  }

  #snapshot(member: SimMember | undefined): void {
    const node = member?.node;
    if (!member || !node) return;
    const applied = node.status().applied;
    // The membership in a snapshot must be the one as of its index.
    if (node.confAppliedIndex() > applied) return;
    if (applied - member.storage.snapshot().meta.index < 8) return;
    if (applied > member.storage.lastIndex()) return;
    member.storage.createSnapshot(applied, node.confState(), new Uint8Array([applied & 0xff]));
    // Keep a few entries so slightly lagging followers still get appends, not snapshots.
    member.storage.compact(Math.max(member.storage.firstIndex(), applied - 4));
    this.#stats.snapshots++;
  }

  #read(member: SimMember | undefined): void {
    const node = member?.node;
    if (!member || !node) return;
    const key = `r${this.#read_counter++}`;
    try {
      node.readIndex(new TextEncoder().encode(key));
      member.reads.set(key, this.#checker.maxCommitted());
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  // ------------------------------------------------------------ liveness

  #heal(): void {
    this.#cut.clear();
    this.#faults = RELIABLE;
    for (const member of this.#members.values()) {
      if (!member.node && !member.retired) this.#start(member);
    }
  }

  #requireLiveness(max_ticks: number): void {
    const fresh = new Set<string>();
    for (let k = 0; k < 3; k++) fresh.add(`live${k}`);
    const seen = new Set<string>();
    const watch = (entries: Entry[]) => {
      for (const e of entries) {
        const text = new TextDecoder().decode(e.data);
        if (fresh.has(text)) seen.add(text);
      }
    };
    for (let t = 0; t < max_ticks; t++) {
      const leader = this.#leaders()[0];
      if (leader?.node && t % ELECTION_TICK === 0) {
        const missing = [...fresh].filter((f) => !seen.has(f));
        if (missing.length === 0) return;
        try {
          leader.node.proposeBatch(missing.map((f) => new TextEncoder().encode(f)));
        } catch (error) {
          if (!(error instanceof ProposalDroppedError)) throw error;
        }
      }
      this.#on_apply = watch;
      this.#runTick();
      this.#on_apply = null;
      if (seen.size === fresh.size) return;
    }
    const leaders = this.#leaders().map((m) => m.id).join(",") || "none";
    throw new LivenessFailure(
      `after healing, ${seen.size}/${fresh.size} fresh proposals committed in ${max_ticks} ticks ` +
        `(leaders: ${leaders})`,
    );
  }
}
