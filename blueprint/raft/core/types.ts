/**
 * The data contract of Blueprint's Raft core: log entries, messages, persistent state, the
 * {@link Ready} batch the driver executes, the node configuration and the storage reader the
 * core reads its stable log through.
 *
 * The core is a pure state machine in the shape of etcd-io/raft's RawNode: time is `tick()`,
 * I/O is the caller's, randomness comes from an injected {@link Rng}.
 *
 * @module
 */

/** Identity of a Raft member; unique within a cluster and never reused. */
export type NodeId = string;

/** What an {@link Entry}'s `data` holds. */
export enum EntryType {
  /** Application command (or empty: the no-op a new leader appends). */
  Normal = 0,
  /** An encoded {@link ConfChange}; takes effect when applied. */
  ConfChange = 1,
}

/** One log entry. `index` starts at 1; `term` never decreases along the log. */
export interface Entry {
  /** Term of the leader that created the entry. */
  term: number;
  /** Position in the log, 1-based. */
  index: number;
  /** Kind of payload. */
  type: EntryType;
  /** Payload; empty for the leader's no-op entry. */
  data: Uint8Array;
}

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  /** Latest term this node has seen. */
  term: number;
  /** Candidate voted for in `term`, or null. */
  vote: NodeId | null;
  /** Highest index known committed (persisting it is an optimisation, not a requirement). */
  commit: number;
}

/** The membership of the cluster. A node is either a voter, a learner, or neither. */
export interface ConfState {
  /** Members that vote and count toward quorums. */
  voters: NodeId[];
  /** Members that receive the log but do not vote. */
  learners: NodeId[];
}

/** Position and membership a snapshot covers. */
export interface SnapshotMeta {
  /** Index of the last entry the snapshot includes. */
  index: number;
  /** Term of that entry. */
  term: number;
  /** Membership as of `index`. */
  conf_state: ConfState;
}

/** An application state snapshot, opaque to the core. */
export interface Snapshot {
  /** What the snapshot covers. */
  meta: SnapshotMeta;
  /** Application state bytes. */
  data: Uint8Array;
}

/** Kinds of {@link ConfChange}. Promotion of a learner is `AddVoter` for that learner. */
export enum ConfChangeType {
  /** Add a voter, or promote an existing learner to voter. */
  AddVoter = 0,
  /** Remove a voter or learner. */
  RemoveNode = 1,
  /** Add a learner (a voter cannot be demoted this way). */
  AddLearner = 2,
}

/** One membership change; only one may be pending (proposed, not yet applied) at a time. */
export interface ConfChange {
  /** What to do. */
  type: ConfChangeType;
  /** Which member. */
  node_id: NodeId;
}

/** Message kinds. Values are stable: they are part of the wire codec. */
export enum MessageType {
  /** Local: a client proposal (forwarded to the leader by followers). */
  Prop = 0,
  /** Leader → follower: append entries (also carries commit). */
  App = 1,
  /** Follower → leader: append accepted (index = last matching) or rejected (with hint). */
  AppResp = 2,
  /** Candidate → voter: request vote. */
  Vote = 3,
  /** Voter → candidate: vote granted (reject=false) or refused. */
  VoteResp = 4,
  /** Pre-candidate → voter: would you vote for me at term+1? (term not incremented). */
  PreVote = 5,
  /** Voter → pre-candidate. */
  PreVoteResp = 6,
  /** Leader → follower: liveness and commit (never beyond the follower's match). */
  Heartbeat = 7,
  /** Follower → leader. */
  HeartbeatResp = 8,
  /** Leader → follower: install snapshot. */
  Snap = 9,
  /** Leader → transferee: start an election now, ignoring the lease. */
  TimeoutNow = 10,
  /** Request a read index (follower → leader, or local on the leader). */
  ReadIndex = 11,
  /** Leader → follower: the read index for the request's context. */
  ReadIndexResp = 12,
  /** Forwarded to the leader: transfer leadership to the node named (UTF-8) in `context`. */
  TransferLeader = 13,
}

/**
 * A Raft message. Fields unused by a type hold their zero value (0, false, empty array), so
 * the codec can encode every message the same way.
 */
export interface Message {
  /** Kind. */
  type: MessageType;
  /** Sender. */
  from: NodeId;
  /** Recipient. */
  to: NodeId;
  /** Sender's term (0 for local messages). */
  term: number;
  /** App: term of the entry at `index`; Vote/PreVote: candidate's last log term. */
  log_term: number;
  /** App: index preceding `entries`; AppResp: match or rejected index; Vote: last index. */
  index: number;
  /** Entries carried (App, Prop). */
  entries: Entry[];
  /** Leader's commit index (App, Heartbeat). */
  commit: number;
  /** True when the request is refused. */
  reject: boolean;
  /** AppResp rejection: the follower's last index (or conflict index) to probe from. */
  reject_hint: number;
  /** Snap only. */
  snapshot?: Snapshot;
  /** ReadIndex request context; Heartbeat/Resp carry it to confirm a read round. */
  context?: Uint8Array;
}

/** Role of a node. */
export enum Role {
  /** Follows a leader or waits for one. */
  Follower = 0,
  /** Asking for pre-votes (PreVote enabled) without incrementing its term. */
  PreCandidate = 1,
  /** Asking for votes in a new term. */
  Candidate = 2,
  /** Leads its term. */
  Leader = 3,
}

/** Volatile state worth reporting when it changes. */
export interface SoftState {
  /** Known leader of the current term, if any. */
  leader: NodeId | null;
  /** This node's role. */
  role: Role;
}

/** A linearizable read point: once `index` is applied, the read for `request_ctx` may run. */
export interface ReadState {
  /** Commit index at the time the leader confirmed leadership. */
  index: number;
  /** Context given to `readIndex`. */
  request_ctx: Uint8Array;
}

/**
 * Work for the driver, to be done in this order:
 * 1. persist `hard_state`, `entries` (truncating any conflicting suffix first) and install
 *    `snapshot`, then sync;
 * 2. send `messages` (only after step 1 is durable);
 * 3. apply `committed_entries` in order;
 * then call `advance(ready)`.
 */
export interface Ready {
  /** Present when term, vote or commit changed. */
  hard_state?: HardState;
  /** New log entries to append. */
  entries: Entry[];
  /** Snapshot to install (before appending `entries`). */
  snapshot?: Snapshot;
  /** Outgoing messages. */
  messages: Message[];
  /** Entries committed and not yet handed out for applying. */
  committed_entries: Entry[];
  /** Reads whose index is now known. */
  read_states: ReadState[];
  /** Present when leader or role changed. */
  soft_state?: SoftState;
}

/** Source of randomness, injected so that every run replays from a seed. */
export interface Rng {
  /** Uniform integer in [0, bound_exclusive). */
  nextInt(bound_exclusive: number): number;
}

/**
 * The stable (persisted) log as the core reads it. Indices below `firstIndex()` are
 * compacted into the snapshot; `term(firstIndex() - 1)` is the snapshot's term.
 */
export interface RaftLogReader {
  /** Index of the first entry available (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (snapshot index when the log is empty). */
  lastIndex(): number;
  /** Term of entry `index`; throws {@link CompactedError} / {@link UnavailableError}. */
  term(index: number): number;
  /** Entries [lo, hi), at least one if any, at most `max_bytes` of payload beyond the first. */
  entries(lo: number, hi: number, max_bytes: number): Entry[];
  /** Latest snapshot. */
  snapshot(): Snapshot;
  /** Persisted hard state and membership at start-up. */
  initialState(): { hard_state: HardState; conf_state: ConfState };
}

/** Configuration of one {@link RaftNode}. */
export interface RaftConfig {
  /** This node's id. */
  id: NodeId;
  /** Log reader; holds the persisted state the node restarts from. */
  storage: RaftLogReader;
  /** Ticks without leader contact before an election; randomized in [n, 2n). */
  election_tick: number;
  /** Ticks between leader heartbeats; must be < election_tick. */
  heartbeat_tick: number;
  /** Run a PreVote round before incrementing the term (thesis §9.6). */
  pre_vote: boolean;
  /** Leader steps down if it has not heard from a quorum within an election timeout. */
  check_quorum: boolean;
  /** Max App messages in flight to one follower in replicate state. */
  max_inflight_msgs: number;
  /** Max bytes of entries in flight to one follower (0 = unbounded by bytes). */
  max_inflight_bytes?: number;
  /** Max entry bytes per App message (the first entry always goes). */
  max_size_per_msg_bytes: number;
  /** Max entries a single proposal batch may hold. */
  max_entries_per_proposal?: number;
  /** Highest index already applied by the application at restart. */
  applied?: number;
  /** Serve ReadIndex from the leader lease (requires check_quorum). */
  read_only_lease_based?: boolean;
  /** Seeded randomness for election timeouts. */
  rng: Rng;
  /**
   * Start holding the vote: grant no vote and never campaign until this member has caught up
   * with a leader (its commit index reached the leader's commit index of the first append it
   * received) or {@link RaftNode.releaseVoteHold} is called. For a member whose Raft state
   * is new in a cluster that may already exist: it may have voted in the current term before
   * its state was lost, and voting again could elect two leaders in one term.
   */
  vote_hold?: boolean;
}

/** Replication state of a follower as the leader tracks it (as in etcd). */
export enum ProgressState {
  /** Send one App per heartbeat until a match is found. */
  Probe = 0,
  /** Stream Apps optimistically, bounded by the inflight window. */
  Replicate = 1,
  /** A snapshot is on its way; pause until it is acknowledged. */
  Snapshot = 2,
}

/** The leader's view of one follower. */
export interface ProgressStatus {
  /** Highest index known replicated. */
  match: number;
  /** Next index to send. */
  next: number;
  /** Replication state. */
  state: ProgressState;
  /** Whether the member is a learner. */
  is_learner: boolean;
}

/** A snapshot of a node's state, for monitoring and tests. */
export interface RaftStatus {
  /** This node. */
  id: NodeId;
  /** Persistent state. */
  hard_state: HardState;
  /** Volatile state. */
  soft_state: SoftState;
  /** Highest index handed out for applying. */
  applied: number;
  /** Membership as the node currently sees it. */
  conf_state: ConfState;
  /** Per-member progress (leader only). */
  progress: Map<NodeId, ProgressStatus>;
  /** Transfer target while a leader transfer is in progress. */
  lead_transferee: NodeId | null;
}

/** Requested entries are below the first index (compacted into a snapshot). */
export class CompactedError extends Error {
  /** Name the index that was asked for. */
  constructor(index: number) {
    super(`raft log index ${index} is compacted`);
    this.name = "CompactedError";
  }
}

/** Requested entries are beyond the last index. */
export class UnavailableError extends Error {
  /** Name the index that was asked for. */
  constructor(index: number) {
    super(`raft log index ${index} is unavailable`);
    this.name = "UnavailableError";
  }
}

/** A proposal cannot be accepted now (no leader, transfer in progress, conf change pending). */
export class ProposalDroppedError extends Error {
  /** Say why the proposal was dropped. */
  constructor(reason: string) {
    super(`raft proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}
