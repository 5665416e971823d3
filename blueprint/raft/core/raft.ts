/**
 * The Raft state machine (election, replication, snapshots, membership, leader transfer,
 * ReadIndex) behind the {@link RaftNode} API, in the shape of etcd-io/raft's raft + RawNode.
 * Pure: no timers, sockets, disks, clocks or Math.random; everything it wants done comes out
 * of {@link RaftNode.ready}.
 *
 * @module
 */
import { decodeConfChange, encodeConfChange } from "./codec.ts";
import { Progress } from "./progress.ts";
import { entrySizeBytes, RaftLog } from "./raft_log.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  ProgressState,
  type ProgressStatus,
  ProposalDroppedError,
  type RaftConfig,
  type RaftStatus,
  type ReadState,
  type Ready,
  Role,
  type Snapshot,
  type SoftState,
} from "./types.ts";

/** Context on Vote/PreVote that marks a leader-transfer campaign (ignores the lease). */
const CAMPAIGN_TRANSFER = new Uint8Array([0x74]);
/** Bound on ReadIndex requests waiting for a heartbeat round. */
const MAX_PENDING_READS = 4096;
/** Bound on committed-entry bytes handed out in one Ready. */
const MAX_COMMITTED_BYTES_PER_READY = 8 * 1024 * 1024;
/** Default bound on commands in one proposeBatch. */
const DEFAULT_MAX_ENTRIES_PER_PROPOSAL = 4096;
/** Default bound on entries proposed but not yet committed. */
const DEFAULT_MAX_UNCOMMITTED_ENTRIES = 8192;

/** Faults that only the simulator's self-test switches on, to prove the checkers can fail. */
export interface RaftTestingFaults {
  /** Grant a vote even when already voted for someone else in this term. */
  vote_twice?: boolean;
}

/** {@link RaftConfig} plus simulator-only knobs. */
export interface RaftNodeOptions extends RaftConfig {
  /** Deliberately broken rules, for checker self-tests only. */
  testing_faults?: RaftTestingFaults;
  /** Max entries proposed but not committed before proposals are dropped. */
  max_uncommitted_entries?: number;
}

interface PendingRead {
  index: number;
  from: NodeId;
  context: Uint8Array;
  acks: Set<NodeId>;
}

type Vote = "won" | "lost" | "pending";

function emptyMessage(type: MessageType, to: NodeId): Message {
  return {
    type,
    from: "",
    to,
    term: 0,
    log_term: 0,
    index: 0,
    commit: 0,
    entries: [],
    reject: false,
    reject_hint: 0,
  };
}

function contextKey(context: Uint8Array): string {
  let key = "";
  for (const b of context) key += b.toString(16).padStart(2, "0");
  return key;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validateConfig(c: RaftNodeOptions): void {
  const positive = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`raft config ${name} must be an integer ≥ 1, got ${v}`);
    }
  };
  if (typeof c.id !== "string" || c.id.length === 0) {
    throw new RangeError("raft config id must be a non-empty string");
  }
  positive("heartbeat_tick", c.heartbeat_tick);
  positive("election_tick", c.election_tick);
  if (c.election_tick <= c.heartbeat_tick) {
    throw new RangeError(
      `raft config election_tick (${c.election_tick}) must exceed heartbeat_tick (${c.heartbeat_tick})`,
    );
  }
  positive("max_inflight_msgs", c.max_inflight_msgs);
  positive("max_size_per_msg_bytes", c.max_size_per_msg_bytes);
  if (c.read_only_lease_based && !c.check_quorum) {
    throw new RangeError("raft config read_only_lease_based requires check_quorum");
  }
}

/**
 * One Raft member as a deterministic state machine. Drive it with {@link tick} and
 * {@link step}; collect work with {@link ready}, do it in order, then {@link advance}.
 *
 * Membership changes take effect when the application has applied the committed entry
 * (i.e. on `advance` of the Ready that handed it out); on restart, committed changes in the
 * stable log are re-applied to the snapshot's configuration.
 */
export class RaftNode {
  /** This node's id. */
  readonly id: NodeId;
  readonly #cfg: RaftNodeOptions;
  readonly #log: RaftLog;
  #term = 0;
  #vote: NodeId | null = null;
  #role = Role.Follower;
  #lead: NodeId | null = null;
  #voters = new Set<NodeId>();
  #learners = new Set<NodeId>();
  #progress = new Map<NodeId, Progress>();
  #votes = new Map<NodeId, boolean>();
  #msgs: Message[] = [];
  #read_states: ReadState[] = [];
  #pending_reads = new Map<string, PendingRead>();
  #read_queue: string[] = [];
  #election_elapsed = 0;
  #heartbeat_elapsed = 0;
  #randomized_election_timeout = 0;
  #lead_transferee: NodeId | null = null;
  #pending_conf_index = 0;
  #conf_applied_index = 0;
  /** No votes and no campaigns until caught up with a leader (see RaftConfig.vote_hold). */
  #vote_hold = false;
  /** The leader's commit index at the first append while holding the vote (0: none yet). */
  #catch_up_target = 0;
  #pending_bcast = false;
  #prev_hard_state: HardState;
  #prev_soft_state: SoftState;
  readonly #max_uncommitted_entries: number;

  /** Build a node from its storage (fresh or restarted). */
  constructor(config: RaftNodeOptions) {
    validateConfig(config);
    this.#cfg = config;
    this.id = config.id;
    this.#max_uncommitted_entries = config.max_uncommitted_entries ??
      DEFAULT_MAX_UNCOMMITTED_ENTRIES;
    this.#log = new RaftLog(config.storage);
    const { hard_state, conf_state } = config.storage.initialState();
    this.#setConf(conf_state);
    this.#conf_applied_index = this.#log.applied;
    if (hard_state.term > 0 || hard_state.commit > 0) {
      if (hard_state.commit > this.#log.lastIndex()) {
        throw new RangeError(
          `raft state commit ${hard_state.commit} is beyond last index ${this.#log.lastIndex()}`,
        );
      }
      this.#log.committed = Math.max(this.#log.committed, hard_state.commit);
      this.#term = hard_state.term;
      this.#vote = hard_state.vote;
    }
    if (config.applied !== undefined && config.applied > this.#log.applied) {
      this.#log.appliedTo(Math.min(config.applied, this.#log.committed));
    }
    this.#replayCommittedConfChanges();
    this.#vote_hold = config.vote_hold === true;
    this.#becomeFollower(this.#term, null);
    this.#prev_hard_state = this.#hardState();
    this.#prev_soft_state = this.#softState();
  }

  // ---------------------------------------------------------------- public API

  /** Advance logical time by one tick (elections, heartbeats, CheckQuorum). */
  tick(): void {
    if (this.#role === Role.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  /** Feed a message from a peer. Messages addressed to another node are ignored. */
  step(message: Message): void {
    if (message.to !== this.id) return;
    if (message.type === MessageType.Prop && message.from !== this.id) {
      this.#stepProposal(message, false);
      return;
    }
    this.#step(message);
  }

  /** Propose one command. Throws {@link ProposalDroppedError} when it cannot be accepted. */
  propose(data: Uint8Array): void {
    this.proposeBatch([data]);
  }

  /** Propose several commands as one batch (one log append, one App per follower). */
  proposeBatch(datas: Uint8Array[]): void {
    if (datas.length === 0) throw new RangeError("proposeBatch needs at least one command");
    const max = this.#cfg.max_entries_per_proposal ?? DEFAULT_MAX_ENTRIES_PER_PROPOSAL;
    if (datas.length > max) {
      throw new RangeError(`proposeBatch got ${datas.length} commands; at most ${max} allowed`);
    }
    const entries = datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data }));
    this.#stepProposal(this.#local(MessageType.Prop, entries), true);
  }

  /** Propose a membership change; only one may be pending at a time. */
  proposeConfChange(change: ConfChange): void {
    const data = encodeConfChange(change);
    const entry = { term: 0, index: 0, type: EntryType.ConfChange, data };
    this.#stepProposal(this.#local(MessageType.Prop, [entry]), true);
  }

  /**
   * Request a linearizable read point; the answer arrives as a {@link ReadState} with the
   * same context in a later Ready. Throws {@link ProposalDroppedError} when impossible now.
   */
  readIndex(context: Uint8Array): void {
    const m = this.#local(MessageType.ReadIndex, []);
    m.context = context;
    if (this.#role === Role.Leader) {
      this.#leaderReadIndex(m, true);
    } else if (this.#lead === null) {
      throw new ProposalDroppedError("no leader to serve a read index");
    } else {
      this.#send({ ...m, to: this.#lead });
    }
  }

  /** Ask the leader to hand leadership to `to` (it must be a voter and caught up). */
  transferLeader(to: NodeId): void {
    const m = this.#local(MessageType.TransferLeader, []);
    m.context = new TextEncoder().encode(to);
    if (this.#role === Role.Leader) this.#leaderTransfer(to);
    else if (this.#lead !== null) this.#send({ ...m, to: this.#lead });
  }

  /**
   * The driver could not deliver a snapshot to `to` (ok=false) or it was installed (ok=true);
   * either way replication resumes by probing instead of waiting for the retry timeout.
   */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.#progress.get(to);
    if (this.#role !== Role.Leader || !pr || pr.state !== ProgressState.Snapshot) return;
    if (!ok) pr.pending_snapshot = 0;
    pr.becomeProbe();
    // Wait for a heartbeat response before probing, so a dead peer is not flooded.
    pr.probe_sent = true;
  }

  /** The driver failed to send to `to`: stop streaming to it and probe instead. */
  reportUnreachable(to: NodeId): void {
    const pr = this.#progress.get(to);
    if (this.#role === Role.Leader && pr?.state === ProgressState.Replicate) pr.becomeProbe();
  }

  /** Whether {@link ready} has anything to do. */
  hasReady(): boolean {
    if (this.#pending_bcast) return true;
    if (this.#msgs.length > 0 || this.#read_states.length > 0) return true;
    if (this.#log.unstableEntries().length > 0 || this.#log.unstable.snapshot) return true;
    if (this.#log.hasNextCommittedEntries()) return true;
    if (!sameHardState(this.#hardState(), this.#prev_hard_state)) return true;
    const soft = this.#softState();
    return soft.leader !== this.#prev_soft_state.leader || soft.role !== this.#prev_soft_state.role;
  }

  /** Collect the work to do; then call {@link advance} with the same object. */
  ready(): Ready {
    this.#flushPendingAppends();
    const rd: Ready = {
      entries: this.#log.unstableEntries().slice(),
      messages: this.#msgs,
      committed_entries: this.#log.nextCommittedEntries(MAX_COMMITTED_BYTES_PER_READY),
      read_states: this.#read_states,
    };
    const hs = this.#hardState();
    if (!sameHardState(hs, this.#prev_hard_state)) rd.hard_state = hs;
    const ss = this.#softState();
    if (ss.leader !== this.#prev_soft_state.leader || ss.role !== this.#prev_soft_state.role) {
      rd.soft_state = ss;
    }
    if (this.#log.unstable.snapshot) rd.snapshot = this.#log.unstable.snapshot;
    this.#msgs = [];
    this.#read_states = [];
    return rd;
  }

  /** The driver has persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    if (rd.hard_state) this.#prev_hard_state = rd.hard_state;
    if (rd.soft_state) this.#prev_soft_state = rd.soft_state;
    if (rd.snapshot) {
      this.#log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > this.#log.applied) this.#log.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.#log.stableTo(last.index, last.term);
      this.#selfAck();
    }
    for (const entry of rd.committed_entries) {
      if (entry.index <= this.#log.applied) continue;
      this.#log.appliedTo(entry.index);
      if (entry.type === EntryType.ConfChange && entry.index > this.#conf_applied_index) {
        this.#conf_applied_index = entry.index;
        this.#applyConfChange(decodeConfChange(entry.data));
      }
    }
  }

  /** This node's role (cheap; {@link status} builds a full snapshot). */
  get role(): Role {
    return this.#role;
  }

  /** Current term. */
  get term(): number {
    return this.#term;
  }

  /** Leader of the current term, if known. */
  get leader(): NodeId | null {
    return this.#lead;
  }

  /** Current state, for monitoring and tests. */
  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.#role === Role.Leader) {
      for (const [id, pr] of this.#progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          is_learner: pr.is_learner,
        });
      }
    }
    return {
      id: this.id,
      hard_state: this.#hardState(),
      soft_state: this.#softState(),
      applied: this.#log.applied,
      conf_state: this.confState(),
      progress,
      lead_transferee: this.#lead_transferee,
    };
  }

  /** Membership as currently applied. */
  confState(): ConfState {
    return { voters: [...this.#voters].sort(), learners: [...this.#learners].sort() };
  }

  /** Index of the last membership change applied (snapshots must not precede it). */
  confAppliedIndex(): number {
    return this.#conf_applied_index;
  }

  /** The node's log view (stable + unstable) from `lo` to the end, for checkers. */
  logEntries(lo: number, max_bytes = Number.MAX_SAFE_INTEGER): Entry[] {
    return this.#log.entriesFrom(Math.max(lo, this.#log.firstIndex()), max_bytes);
  }

  /** First and last index of the node's log view, and its commit index. */
  logBounds(): { first: number; last: number; committed: number } {
    return {
      first: this.#log.firstIndex(),
      last: this.#log.lastIndex(),
      committed: this.#log.committed,
    };
  }

  /** Term of `index` in the node's log view (0 if unknown). */
  termAt(index: number): number {
    return this.#log.term(index);
  }

  // ---------------------------------------------------------------- state

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }

  #softState(): SoftState {
    return { leader: this.#lead, role: this.#role };
  }

  #promotable(): boolean {
    return this.#voters.has(this.id) && !this.#vote_hold;
  }

  /** Whether the vote is held (see {@link RaftConfig.vote_hold}). */
  get vote_held(): boolean {
    return this.#vote_hold;
  }

  /**
   * Ends the vote hold: the driver learned that the cluster is new (a quorum of members has
   * no Raft state either), so there is no earlier vote to contradict.
   */
  releaseVoteHold(): void {
    this.#vote_hold = false;
  }

  /** Ends the vote hold once the log has caught up with the leader's commit index. */
  #checkCaughtUp(): void {
    if (!this.#vote_hold || this.#catch_up_target === 0) return;
    if (this.#log.committed >= this.#catch_up_target) this.#vote_hold = false;
  }

  #local(type: MessageType, entries: Entry[]): Message {
    const m = emptyMessage(type, this.id);
    m.from = this.id;
    m.entries = entries;
    return m;
  }

  #send(m: Message): void {
    if (m.from === "") m.from = this.id;
    // Vote responses carry the term they answer; local-style messages carry none.
    const keeps_own_term = m.type === MessageType.PreVote || m.type === MessageType.PreVoteResp ||
      m.type === MessageType.Vote || m.type === MessageType.VoteResp;
    if (
      !keeps_own_term && m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex &&
      m.type !== MessageType.TransferLeader
    ) {
      m.term = this.#term;
    }
    this.#msgs.push(m);
  }

  #setConf(conf: ConfState): void {
    this.#voters = new Set(conf.voters);
    this.#learners = new Set(conf.learners.filter((id) => !this.#voters.has(id)));
  }

  #resetRandomizedElectionTimeout(): void {
    this.#randomized_election_timeout = this.#cfg.election_tick +
      this.#cfg.rng.nextInt(this.#cfg.election_tick);
  }

  #reset(term: number): void {
    if (this.#term !== term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#lead = null;
    this.#election_elapsed = 0;
    this.#heartbeat_elapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#lead_transferee = null;
    this.#votes.clear();
    this.#pending_bcast = false;
    this.#resetProgress();
    this.#pending_conf_index = 0;
    this.#pending_reads.clear();
    this.#read_queue = [];
  }

  #resetProgress(): void {
    this.#progress.clear();
    const last = this.#log.lastIndex();
    for (const id of [...this.#voters, ...this.#learners]) {
      const pr = this.#newProgress(id, last + 1);
      if (id === this.id) pr.match = this.#log.lastStableIndex();
      this.#progress.set(id, pr);
    }
  }

  #newProgress(id: NodeId, next: number): Progress {
    return new Progress(
      next,
      this.#learners.has(id),
      this.#cfg.max_inflight_msgs,
      this.#cfg.max_inflight_bytes ?? 0,
    );
  }

  #becomeFollower(term: number, lead: NodeId | null): void {
    this.#reset(term);
    this.#lead = lead;
    this.#role = Role.Follower;
  }

  #becomePreCandidate(): void {
    if (this.#role === Role.Leader) throw new Error("raft invariant: leader → pre-candidate");
    // PreVote does not change term or vote (§9.6): a partitioned node cannot disrupt.
    this.#votes.clear();
    this.#lead = null;
    this.#role = Role.PreCandidate;
  }

  #becomeCandidate(): void {
    if (this.#role === Role.Leader) throw new Error("raft invariant: leader → candidate");
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = Role.Candidate;
  }

  #becomeLeader(): void {
    if (this.#role === Role.Follower) throw new Error("raft invariant: follower → leader");
    this.#reset(this.#term);
    this.#lead = this.id;
    this.#role = Role.Leader;
    for (const [id, pr] of this.#progress) if (id !== this.id) pr.recent_active = true;
    // No conf change until everything before this term is applied (pending may be in log).
    this.#pending_conf_index = this.#log.lastIndex();
    // §5.4.2: a new leader commits earlier entries through an entry of its own term.
    this.#appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  #replayCommittedConfChanges(): void {
    // The snapshot's membership already includes every change up to its index.
    const lo = this.#conf_applied_index + 1;
    const hi = this.#log.committed;
    const chunk_bytes = 4 * 1024 * 1024;
    for (let next = lo; next <= hi;) {
      const batch = this.#log.slice(next, hi + 1, chunk_bytes);
      for (const entry of batch) {
        if (entry.type === EntryType.ConfChange) {
          this.#applyConfChangeToSets(decodeConfChange(entry.data));
          this.#conf_applied_index = entry.index;
        }
      }
      next += batch.length;
    }
  }

  // ---------------------------------------------------------------- ticks

  #tickElection(): void {
    this.#election_elapsed++;
    if (this.#promotable() && this.#election_elapsed >= this.#randomized_election_timeout) {
      this.#election_elapsed = 0;
      this.#hup(false);
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeat_elapsed++;
    this.#election_elapsed++;
    for (const pr of this.#progress.values()) {
      if (pr.state !== ProgressState.Snapshot) continue;
      // A lost snapshot message would otherwise pause the follower forever.
      if (++pr.snapshot_elapsed_ticks >= this.#cfg.election_tick * 2) pr.becomeProbe();
    }
    if (this.#election_elapsed >= this.#cfg.election_tick) {
      this.#election_elapsed = 0;
      if (this.#cfg.check_quorum && !this.#checkQuorumActive()) {
        this.#becomeFollower(this.#term, null);
        return;
      }
      this.#lead_transferee = null; // a transfer must finish within one election timeout
    }
    if (this.#role !== Role.Leader) return;
    if (this.#heartbeat_elapsed >= this.#cfg.heartbeat_tick) {
      this.#heartbeat_elapsed = 0;
      this.#bcastHeartbeat(this.#lastPendingReadContext());
    }
  }

  /** CheckQuorum: did a quorum of voters talk to us since the last round? Resets the marks. */
  #checkQuorumActive(): boolean {
    let active = 0;
    for (const id of this.#voters) {
      const pr = this.#progress.get(id);
      if (id === this.id || pr?.recent_active) active++;
    }
    for (const [id, pr] of this.#progress) if (id !== this.id) pr.recent_active = false;
    return active >= this.#quorum();
  }

  #quorum(): number {
    return Math.floor(this.#voters.size / 2) + 1;
  }

  // ---------------------------------------------------------------- elections

  #hup(transfer: boolean): void {
    if (this.#role === Role.Leader || !this.#promotable()) return;
    if (this.#hasUnappliedConfChanges()) return;
    if (this.#cfg.pre_vote && !transfer) this.#campaign("pre", false);
    else this.#campaign("election", transfer);
  }

  #hasUnappliedConfChanges(): boolean {
    if (this.#log.applied >= this.#log.committed) return false;
    const lo = Math.max(this.#log.applied + 1, this.#log.firstIndex());
    const entries = this.#log.slice(lo, this.#log.committed + 1, MAX_COMMITTED_BYTES_PER_READY);
    return entries.some((e) => e.type === EntryType.ConfChange);
  }

  #campaign(kind: "pre" | "election", transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (kind === "pre") {
      this.#becomePreCandidate();
      type = MessageType.PreVote;
      term = this.#term + 1;
    } else {
      this.#becomeCandidate();
      type = MessageType.Vote;
      term = this.#term;
    }
    if (this.#poll(this.id, true) === "won") {
      if (kind === "pre") this.#campaign("election", transfer);
      else this.#becomeLeader();
      return;
    }
    for (const id of [...this.#voters].sort()) {
      if (id === this.id) continue;
      const m = emptyMessage(type, id);
      m.term = term;
      m.index = this.#log.lastIndex();
      m.log_term = this.#log.lastTerm();
      if (transfer) m.context = CAMPAIGN_TRANSFER;
      this.#send(m);
    }
  }

  #poll(from: NodeId, granted: boolean): Vote {
    if (!this.#votes.has(from)) this.#votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const id of this.#voters) {
      const v = this.#votes.get(id);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const q = this.#quorum();
    if (yes >= q) return "won";
    if (no > this.#voters.size - q) return "lost";
    return "pending";
  }

  // ---------------------------------------------------------------- step

  #step(m: Message): void {
    if (m.term === 0) {
      // Forwarded requests (ReadIndex, TransferLeader) carry no term: not stale. Any other
      // message without a term is malformed.
      if (m.type !== MessageType.ReadIndex && m.type !== MessageType.TransferLeader) return;
    } else if (m.term > this.#term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = sameBytes(m.context, CAMPAIGN_TRANSFER);
        const in_lease = this.#cfg.check_quorum && this.#lead !== null &&
          this.#election_elapsed < this.#cfg.election_tick;
        // Thesis §4.2.3: while we hear from a leader, ignore disruptive candidates.
        if (!force && in_lease) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote request never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; keep ours until we campaign.
      } else if (
        m.type === MessageType.App || m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.#becomeFollower(m.term, m.from);
      } else {
        this.#becomeFollower(m.term, null);
      }
    } else if (m.term < this.#term) {
      this.#stepStale(m);
      return;
    }
    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        this.#handleVoteRequest(m);
        return;
      default:
        if (this.#role === Role.Leader) this.#stepLeader(m);
        else if (this.#role === Role.Follower) this.#stepFollower(m);
        else this.#stepCandidate(m);
    }
  }

  /** §5.1: a request with a stale term is rejected (the sender learns our term). */
  #stepStale(m: Message): void {
    if (
      (this.#cfg.check_quorum || this.#cfg.pre_vote) &&
      (m.type === MessageType.Heartbeat || m.type === MessageType.App)
    ) {
      // The stale leader must learn the new term, or with CheckQuorum/PreVote it could keep
      // a partitioned follower from ever electing (etcd's "stuck candidate" fix).
      this.#send(emptyMessage(MessageType.AppResp, m.from));
    } else if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
      const resp = emptyMessage(
        m.type === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp,
        m.from,
      );
      resp.term = this.#term;
      resp.reject = true;
      this.#send(resp);
    }
  }

  #handleVoteRequest(m: Message): void {
    const is_pre = m.type === MessageType.PreVote;
    const resp_type = is_pre ? MessageType.PreVoteResp : MessageType.VoteResp;
    const vote_twice = this.#cfg.testing_faults?.vote_twice === true;
    // §5.2: at most one vote per term, first come first served (a repeat is idempotent).
    // A held vote grants nothing: a vote from before a lost state may exist for this term.
    const can_vote = !this.#vote_hold && (
      this.#vote === m.from ||
      (this.#vote === null && this.#lead === null) ||
      (is_pre && m.term > this.#term) ||
      (vote_twice && !is_pre)
    );
    const resp = emptyMessage(resp_type, m.from);
    // §5.4.1: only for a candidate whose log is at least as up to date as ours.
    if (can_vote && this.#log.isUpToDate(m.index, m.log_term)) {
      resp.term = m.term;
      this.#send(resp);
      if (!is_pre) {
        this.#election_elapsed = 0;
        this.#vote = m.from;
      }
    } else {
      resp.term = this.#term;
      resp.reject = true;
      this.#send(resp);
    }
  }

  #stepProposal(m: Message, local: boolean): void {
    if (this.#role === Role.Leader) {
      this.#leaderPropose(m, local);
      return;
    }
    if (this.#role !== Role.Follower || this.#lead === null) {
      if (local) throw new ProposalDroppedError(`no leader (this node is ${Role[this.#role]})`);
      return;
    }
    this.#send({ ...m, to: this.#lead, from: this.id });
  }

  #leaderPropose(m: Message, local: boolean): void {
    const drop = (reason: string) => {
      if (local) throw new ProposalDroppedError(reason);
    };
    if (!this.#progress.has(this.id)) return drop("leader was removed from the configuration");
    if (this.#lead_transferee !== null) return drop("leadership transfer in progress");
    const max_batch = this.#cfg.max_entries_per_proposal ?? DEFAULT_MAX_ENTRIES_PER_PROPOSAL;
    if (m.entries.length > max_batch) {
      return drop(`${m.entries.length} commands in one proposal; at most ${max_batch} allowed`);
    }
    const waiting = this.#log.lastIndex() - this.#log.committed;
    if (waiting >= this.#max_uncommitted_entries) {
      return drop(
        `${waiting} entries wait for commit; max_uncommitted_entries is ${this.#max_uncommitted_entries}`,
      );
    }
    const entries = m.entries.map((e) => ({ ...e }));
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].type !== EntryType.ConfChange) continue;
      const refusal = this.#confChangeRefusal(entries[i]);
      if (refusal !== null) {
        if (local) throw new ProposalDroppedError(refusal);
        entries[i] = { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) };
      } else {
        this.#pending_conf_index = this.#log.lastIndex() + i + 1;
      }
    }
    this.#appendEntries(entries);
  }

  #confChangeRefusal(entry: Entry): string | null {
    if (this.#pending_conf_index > this.#log.applied) {
      return `a membership change is pending (index ${this.#pending_conf_index} not applied)`;
    }
    let cc: ConfChange;
    try {
      cc = decodeConfChange(entry.data);
    } catch (error) {
      return (error as Error).message;
    }
    if (cc.type === ConfChangeType.AddLearner && this.#voters.has(cc.node_id)) {
      return `${cc.node_id} is a voter; a voter cannot be made a learner`;
    }
    if (
      cc.type === ConfChangeType.RemoveNode && this.#voters.has(cc.node_id) &&
      this.#voters.size === 1
    ) {
      return `cannot remove ${cc.node_id}, the last voter`;
    }
    if (cc.type === ConfChangeType.AddVoter && this.#learners.has(cc.node_id)) {
      const pr = this.#progress.get(cc.node_id);
      if (!pr || pr.match < this.#log.committed) {
        return `learner ${cc.node_id} is not caught up (match ${
          pr?.match ?? 0
        } < commit ${this.#log.committed})`;
      }
    }
    return null;
  }

  #appendEntries(entries: Entry[]): void {
    let index = this.#log.lastIndex();
    for (const e of entries) {
      e.term = this.#term;
      e.index = ++index;
    }
    this.#log.append(entries);
    // Sent at the next ready(): every proposal until then rides in one App per follower.
    this.#pending_bcast = true;
  }

  #flushPendingAppends(): void {
    if (!this.#pending_bcast) return;
    this.#pending_bcast = false;
    if (this.#role === Role.Leader) this.#bcastAppend();
  }

  /** The leader's own entries count toward commit only once durable (advance). */
  #selfAck(): void {
    if (this.#role !== Role.Leader) return;
    const pr = this.#progress.get(this.id);
    if (!pr) return;
    pr.maybeUpdate(this.#log.lastStableIndex());
    if (this.#maybeCommit()) this.#bcastAppend();
  }

  // ---------------------------------------------------------------- leader

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.ReadIndex:
        this.#leaderReadIndex(m, false);
        return;
      case MessageType.TransferLeader:
        this.#leaderTransfer(new TextDecoder().decode(m.context ?? new Uint8Array(0)));
        return;
    }
    const pr = this.#progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.#handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.#handleHeartbeatResponse(m, pr);
        return;
    }
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    pr.recent_active = true;
    if (m.reject) {
      // Fast backtracking: skip every index of the follower's conflicting term at once.
      let next_probe = m.reject_hint;
      if (m.log_term > 0) {
        next_probe = this.#log.findConflictByTerm(m.reject_hint, m.log_term).index;
      }
      if (pr.maybeDecrTo(m.index, next_probe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.#sendAppend(m.from, true);
      }
      return;
    }
    const was_paused = pr.isPaused();
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === ProgressState.Probe) pr.becomeReplicate();
      else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pending_snapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);
      if (this.#maybeCommit()) this.#bcastAppend();
      else if (was_paused) this.#sendAppend(m.from, false);
      // Pipelining: keep the window full (bounded by max_inflight_msgs).
      for (let i = 0; i < this.#cfg.max_inflight_msgs && this.#sendAppend(m.from, false); i++);
      if (m.from === this.#lead_transferee && pr.match === this.#log.lastIndex()) {
        this.#sendTimeoutNow(m.from);
      }
    }
  }

  #handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recent_active = true;
    pr.probe_sent = false;
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    // Even an empty append: in replicate state it reveals appends lost on the way.
    if (pr.match < this.#log.lastIndex()) this.#sendAppend(m.from, true);
    if (!m.context || m.context.length === 0) return;
    const key = contextKey(m.context);
    const read = this.#pending_reads.get(key);
    if (!read) return;
    read.acks.add(m.from);
    let acked = 0;
    for (const id of this.#voters) if (read.acks.has(id)) acked++;
    if (acked < this.#quorum()) return;
    // Leadership is confirmed for this read and every earlier one in the queue.
    const position = this.#read_queue.indexOf(key);
    const released = this.#read_queue.splice(0, position + 1);
    for (const k of released) {
      const r = this.#pending_reads.get(k)!;
      this.#pending_reads.delete(k);
      this.#answerRead(r.from, r.index, r.context);
    }
  }

  #answerRead(from: NodeId, index: number, context: Uint8Array): void {
    if (from === this.id) {
      this.#read_states.push({ index, request_ctx: context });
      return;
    }
    const resp = emptyMessage(MessageType.ReadIndexResp, from);
    resp.index = index;
    resp.context = context;
    this.#send(resp);
  }

  #leaderReadIndex(m: Message, local: boolean): void {
    const context = m.context ?? new Uint8Array(0);
    const drop = (reason: string) => {
      if (local) throw new ProposalDroppedError(reason);
    };
    if (this.#voters.size === 1 && this.#voters.has(this.id)) {
      this.#answerRead(m.from, this.#log.committed, context);
      return;
    }
    // Until an entry of this term commits, the commit index may lag the true one (§6.4).
    if (this.#log.term(this.#log.committed) !== this.#term) {
      return drop("leader has not committed an entry in its term yet");
    }
    if (this.#cfg.read_only_lease_based) {
      this.#answerRead(m.from, this.#log.committed, context);
      return;
    }
    const key = contextKey(context);
    if (this.#pending_reads.has(key)) return;
    if (this.#read_queue.length >= MAX_PENDING_READS) {
      return drop(`more than ${MAX_PENDING_READS} reads are waiting`);
    }
    this.#pending_reads.set(key, {
      index: this.#log.committed,
      from: m.from,
      context,
      acks: new Set([this.id]),
    });
    this.#read_queue.push(key);
    this.#bcastHeartbeat(context);
  }

  #lastPendingReadContext(): Uint8Array | undefined {
    const key = this.#read_queue[this.#read_queue.length - 1];
    return key === undefined ? undefined : this.#pending_reads.get(key)?.context;
  }

  #leaderTransfer(to: NodeId): void {
    const pr = this.#progress.get(to);
    if (!pr || pr.is_learner || to === this.id) return;
    if (this.#lead_transferee === to) return;
    this.#lead_transferee = to;
    this.#election_elapsed = 0;
    if (pr.match === this.#log.lastIndex()) this.#sendTimeoutNow(to);
    else this.#sendAppend(to, true);
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#send(emptyMessage(MessageType.TimeoutNow, to));
  }

  #maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.#voters) matches.push(this.#progress.get(id)?.match ?? 0);
    if (matches.length === 0) return false;
    matches.sort((a, b) => b - a);
    return this.#log.maybeCommit(matches[this.#quorum() - 1], this.#term);
  }

  #bcastAppend(): void {
    for (const id of this.#progress.keys()) if (id !== this.id) this.#sendAppend(id, true);
  }

  #bcastHeartbeat(context: Uint8Array | undefined): void {
    for (const [id, pr] of this.#progress) {
      if (id === this.id) continue;
      const m = emptyMessage(MessageType.Heartbeat, id);
      // Never tell a follower to commit beyond what it is known to hold.
      m.commit = Math.min(pr.match, this.#log.committed);
      if (context) m.context = context;
      this.#send(m);
    }
  }

  /** Send entries (or a snapshot) to `to`; returns whether a message was sent. */
  #sendAppend(to: NodeId, send_if_empty: boolean): boolean {
    const pr = this.#progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prev_index = pr.next - 1;
    const prev_term = this.#log.term(prev_index);
    const compacted = prev_index < this.#log.firstIndex() - 1 ||
      (prev_term === 0 && prev_index > 0);
    if (compacted) return this.#sendSnapshot(to, pr);
    const entries = this.#log.entriesFrom(pr.next, this.#cfg.max_size_per_msg_bytes);
    if (entries.length === 0 && !send_if_empty) return false;
    const m = emptyMessage(MessageType.App, to);
    m.index = prev_index;
    m.log_term = prev_term;
    m.entries = entries;
    m.commit = this.#log.committed;
    if (entries.length > 0) {
      if (pr.state === ProgressState.Replicate) {
        const last = entries[entries.length - 1].index;
        pr.optimisticUpdate(last);
        pr.inflights.add(last, entries.reduce((n, e) => n + entrySizeBytes(e), 0));
      } else if (pr.state === ProgressState.Probe) {
        pr.probe_sent = true;
      }
    }
    this.#send(m);
    return true;
  }

  #sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recent_active) return false;
    const snapshot: Snapshot = this.#log.snapshot();
    if (snapshot.meta.index === 0) return false;
    const m = emptyMessage(MessageType.Snap, to);
    m.snapshot = snapshot;
    pr.becomeSnapshot(snapshot.meta.index);
    this.#send(m);
    return true;
  }

  // ---------------------------------------------------------------- candidate / follower

  #stepCandidate(m: Message): void {
    const my_resp = this.#role === Role.PreCandidate
      ? MessageType.PreVoteResp
      : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.#becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.#becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.#becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
    }
    if (m.type !== my_resp) return;
    const result = this.#poll(m.from, !m.reject);
    if (result === "won") {
      if (this.#role === Role.PreCandidate) this.#campaign("election", false);
      else this.#becomeLeader();
    } else if (result === "lost") {
      this.#becomeFollower(this.#term, null);
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.#election_elapsed = 0;
        this.#lead = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.#election_elapsed = 0;
        this.#lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.#election_elapsed = 0;
        this.#lead = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.#lead !== null) this.#send({ ...m, to: this.#lead });
        return;
      case MessageType.ReadIndex:
        if (this.#lead !== null) this.#send({ ...m, to: this.#lead });
        return;
      case MessageType.TimeoutNow:
        // Leader transfer: campaign at once, even inside a lease (thesis §3.10).
        this.#hup(true);
        return;
      case MessageType.ReadIndexResp:
        this.#read_states.push({ index: m.index, request_ctx: m.context ?? new Uint8Array(0) });
        return;
    }
  }

  #handleAppend(m: Message): void {
    if (this.#vote_hold && this.#catch_up_target === 0 && m.commit > 0) {
      this.#catch_up_target = m.commit;
    }
    try {
      this.#appendFromLeader(m);
    } finally {
      this.#checkCaughtUp();
    }
  }

  #appendFromLeader(m: Message): void {
    const resp = emptyMessage(MessageType.AppResp, m.from);
    if (m.index < this.#log.committed) {
      resp.index = this.#log.committed;
      this.#send(resp);
      return;
    }
    const last_new = this.#log.maybeAppend(m.index, m.log_term, m.commit, m.entries);
    if (last_new !== undefined) {
      resp.index = last_new;
      this.#send(resp);
      return;
    }
    // §5.3 consistency check failed: hint the leader past our whole conflicting term.
    const hint = this.#log.findConflictByTerm(Math.min(m.index, this.#log.lastIndex()), m.log_term);
    resp.index = m.index;
    resp.reject = true;
    resp.reject_hint = hint.index;
    resp.log_term = hint.term;
    this.#send(resp);
  }

  #handleHeartbeat(m: Message): void {
    this.#log.commitTo(Math.min(m.commit, this.#log.lastIndex()));
    const resp = emptyMessage(MessageType.HeartbeatResp, m.from);
    if (m.context) resp.context = m.context;
    this.#send(resp);
  }

  #handleSnapshot(m: Message): void {
    const resp = emptyMessage(MessageType.AppResp, m.from);
    const snapshot = m.snapshot;
    if (snapshot && this.#restore(snapshot)) {
      resp.index = this.#log.lastIndex();
    } else {
      resp.index = this.#log.committed;
    }
    this.#send(resp);
  }

  #restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.meta;
    if (index <= this.#log.committed) return false;
    if (this.#log.matchTerm(index, term)) {
      // We already hold the snapshot's entries: fast-forward the commit instead.
      this.#log.commitTo(index);
      return false;
    }
    this.#log.restore(snapshot);
    this.#setConf(snapshot.meta.conf_state);
    this.#conf_applied_index = index;
    this.#pending_conf_index = 0;
    this.#resetProgress();
    return true;
  }

  // ---------------------------------------------------------------- membership

  #applyConfChangeToSets(cc: ConfChange): void {
    switch (cc.type) {
      case ConfChangeType.AddVoter:
        this.#learners.delete(cc.node_id);
        this.#voters.add(cc.node_id);
        return;
      case ConfChangeType.AddLearner:
        if (!this.#voters.has(cc.node_id)) this.#learners.add(cc.node_id);
        return;
      case ConfChangeType.RemoveNode:
        this.#voters.delete(cc.node_id);
        this.#learners.delete(cc.node_id);
        return;
    }
  }

  #applyConfChange(cc: ConfChange): void {
    this.#applyConfChangeToSets(cc);
    // Keep progress in step with membership; new members start probing from the end.
    for (const id of [...this.#progress.keys()]) {
      if (!this.#voters.has(id) && !this.#learners.has(id)) this.#progress.delete(id);
    }
    for (const id of [...this.#voters, ...this.#learners]) {
      const pr = this.#progress.get(id);
      if (pr) pr.is_learner = this.#learners.has(id);
      else this.#progress.set(id, this.#newProgress(id, this.#log.lastIndex() + 1));
    }
    if (this.#role !== Role.Leader) return;
    if (!this.#voters.has(this.id)) {
      // A removed leader steps down; the rest elect among themselves.
      this.#becomeFollower(this.#term, null);
      return;
    }
    if (this.#lead_transferee !== null && !this.#voters.has(this.#lead_transferee)) {
      this.#lead_transferee = null;
    }
    if (this.#maybeCommit()) this.#bcastAppend();
    else {
      for (const id of this.#progress.keys()) if (id !== this.id) this.#sendAppend(id, false);
    }
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
