/**
 * The Raft worker's loop, with its I/O behind an interface so that the order of work is
 * testable without a worker, sockets or disks: absorb ticks, peer messages and commands;
 * take a Ready; persist it (one fsync); send its messages; hand its output to the main side;
 * advance. Inputs that arrive while a Ready is being persisted are absorbed together into the
 * next one, which is what batches proposals behind one fsync.
 *
 * @module
 */
import {
  CodecError,
  type ConfState,
  decodeConfChange,
  decodeMessage,
  encodeMessage,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  ProposalDroppedError,
  type RaftNode,
  type Ready,
  Role,
  type Snapshot,
} from "../core/mod.ts";
import { ConfChangeType, type Entry } from "../core/mod.ts";
import {
  CommandTag,
  type DriverCommand,
  type DriverEvent,
  encodeEvent,
  EventTag,
  type LeaderInfo,
  type ReadPoint,
} from "./driver_protocol.ts";

/** What the loop needs from the outside world. */
export interface WorkerLoopIo {
  /** Persists a Ready's storage part; resolves when durable. */
  save(
    update: { hard_state?: HardState; entries: Entry[]; snapshot?: Snapshot; sync?: boolean },
  ): Promise<void>;
  /** Queues an encoded message for a peer; false when it was dropped (Raft retries). */
  send(to: NodeId, payload: Uint8Array): boolean;
  /** Delivers an encoded event to the main side; resolves when it was taken (back-pressure). */
  emit(event: Uint8Array): Promise<void>;
  /** Records an application snapshot at `index` and compacts the log below it. */
  snapshot(index: number, conf_state: ConfState, data: Uint8Array): Promise<void>;
  /** Sets (or, with null, removes) a peer's address in the transport. */
  setPeer(id: NodeId, address: { hostname: string; port: number } | null): void;
  /** JSON-able extra status (log and transport counters). */
  extraStatus(): Record<string, unknown>;
  /** Reports a problem worth a log line. */
  log(line: string): void;
  /**
   * Optional gate for snapshot messages: false means "not yet" (the gate re-delivers the
   * payload once the snapshot's files are staged, or drops it). Absent: every one is stepped.
   */
  admitSnapshot?(message: Message, payload: Uint8Array): boolean;
}

/** Bounds of the loop's input queues. */
export interface WorkerLoopLimits {
  /** Most peer messages waiting (more are dropped; Raft retries). Default 16,384. */
  max_inbox_messages: number;
  /** Most ticks applied at once after a stall (more would fire elections at once). */
  max_ticks_per_round: number;
  /** Most proposals in one proposal batch. Default 4,096. */
  max_proposals_per_batch: number;
}

const DEFAULT_LIMITS: WorkerLoopLimits = {
  max_inbox_messages: 16_384,
  max_ticks_per_round: 10,
  max_proposals_per_batch: 4_096,
};

/** Readies processed before yielding to the event loop (timers and sockets must run). */
const MAX_READIES_PER_CYCLE = 64;

/** Drives one {@link RaftNode}. Single-threaded: call only from the worker's event loop. */
export class WorkerLoop {
  readonly #node: RaftNode;
  readonly #io: WorkerLoopIo;
  readonly #limits: WorkerLoopLimits;
  #inbox: Uint8Array[] = [];
  #commands: DriverCommand[] = [];
  #pending_ticks = 0;
  #outbox: DriverEvent[] = [];
  #leader: LeaderInfo = { leader: null, role: Role.Follower, term: 0 };
  /** Term and vote as last made durable (what votes and early sends depend on). */
  #durable_vote: { term: number; vote: NodeId | null };
  #running: Promise<void> | null = null;
  #rerun = false;
  #stop_requested = false;
  #fatal: Error | null = null;
  /** True while a Ready's write is in flight. */
  #saving = false;
  #absorb_queued = false;
  /** Messages dropped because the inbox was full. */
  dropped_messages = 0;

  /**
   * @param node the Raft state machine (built on the same log `io.save` writes)
   * @param io the outside world
   * @param limits queue bounds (defaults suit a LAN cluster)
   */
  constructor(node: RaftNode, io: WorkerLoopIo, limits: Partial<WorkerLoopLimits> = {}) {
    this.#node = node;
    this.#io = io;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
    const hard = node.status().hard_state;
    this.#durable_vote = { term: hard.term, vote: hard.vote };
  }

  /** Whether a Stop command was processed. */
  get stop_requested(): boolean {
    return this.#stop_requested;
  }

  /** A fatal error (failed fsync): the worker must exit. */
  get fatal(): Error | null {
    return this.#fatal;
  }

  /** One timer tick elapsed. */
  tick(): void {
    this.#pending_ticks++;
    this.#inputArrived();
  }

  /** A peer's encoded message arrived. */
  receiveMessage(payload: Uint8Array): void {
    if (this.#inbox.length >= this.#limits.max_inbox_messages) {
      this.dropped_messages++;
      return;
    }
    this.#inbox.push(payload);
    this.#inputArrived();
  }

  /** A command from the main side arrived. */
  receiveCommand(command: DriverCommand): void {
    // Seen at once, so that the command pump stops reading without waiting for a turn.
    if (command.tag === CommandTag.Stop) this.#stop_requested = true;
    this.#commands.push(command);
    this.#inputArrived();
  }

  /** Commands not yet absorbed (the command pump pauses while this is large). */
  get queued_commands(): number {
    return this.#commands.length;
  }

  /** Resolves when the loop has nothing left to do right now. */
  async idle(): Promise<void> {
    // Bounded: each wait completes a run; a run re-arms only for inputs that arrived during it.
    for (let i = 0; i < 1_000 && this.#running; i++) await this.#running;
  }

  /**
   * While a Ready is being persisted, inputs are stepped into the node at once (once per
   * burst) instead of after the write: the core accepts steps between ready() and advance(),
   * so acknowledgements and proposals that arrive during one fsync make the very next Ready.
   */
  #inputArrived(): void {
    if (this.#saving && !this.#absorb_queued) {
      this.#absorb_queued = true;
      queueMicrotask(() => {
        this.#absorb_queued = false;
        if (!this.#saving || this.#fatal) return;
        try {
          this.#absorbInputs();
        } catch (err) {
          this.#fail(err as Error);
        }
      });
    }
    this.#schedule();
  }

  #fail(err: Error): void {
    if (this.#fatal) return;
    this.#fatal = err;
    this.#io.log(`raft worker: fatal: ${err.message}`);
  }

  #schedule(): void {
    if (this.#fatal) return;
    if (this.#running) {
      this.#rerun = true;
      return;
    }
    // Started in a microtask, so that a synchronous burst of inputs is absorbed as one batch.
    this.#running = Promise.resolve().then(() => this.#run()).then((exhausted) => {
      this.#running = null;
      if (!this.#rerun || this.#fatal) return;
      this.#rerun = false;
      // After a full cycle, a macrotask lets timers and socket reads have their turn.
      if (exhausted) setTimeout(() => this.#schedule(), 0);
      else this.#schedule();
    });
  }

  /** Processes Readies until idle; returns true if it stopped at the cycle bound instead. */
  async #run(): Promise<boolean> {
    try {
      for (let round = 0; round < MAX_READIES_PER_CYCLE; round++) {
        this.#absorbInputs();
        if (!this.#node.hasReady()) {
          await this.#flushOutbox();
          return false;
        }
        // Flushes the outbox itself, once the Ready's appends and write are under way.
        await this.#handleReady(this.#node.ready());
      }
      this.#rerun = true;
      return true;
    } catch (err) {
      this.#fail(err as Error);
      return false;
    }
  }

  async #handleReady(rd: Ready): Promise<void> {
    // The Ready contract is: 1. persist, 2. send, 3. hand out for applying, then advance.
    // Two reorderings are safe and take a disk wait off the commit path (etcd does both):
    // - a leader whose term and vote are already durable sends its appends while its own
    //   write is in flight (Raft thesis 10.2.1): it counts itself toward a quorum only after
    //   advance, so nothing commits on its unsynced bytes;
    // - entries committed before this Ready's new entries are durable on a quorum already,
    //   so they are handed out while the new entries are written.
    const writes_log = rd.entries.length > 0 || rd.snapshot !== undefined;
    // A hard state that only moves the commit index is recorded without waiting for an fsync:
    // nothing depends on its durability (a lost commit index is learned again).
    const commit_only = !writes_log && rd.hard_state !== undefined &&
      rd.hard_state.term === this.#durable_vote.term &&
      rd.hard_state.vote === this.#durable_vote.vote;
    if (commit_only) await this.#io.save({ hard_state: rd.hard_state, entries: [], sync: false });
    const needs_save = writes_log || (rd.hard_state !== undefined && !commit_only);
    const send_early = !needs_save || this.#canSendBeforeSave(rd);
    const first_new_index = rd.entries.length > 0 ? rd.entries[0].index : Infinity;
    const hand_out_early = rd.snapshot === undefined &&
      rd.committed_entries.every((entry) => entry.index < first_new_index);
    if (send_early) this.#sendAll(rd);
    const saving = needs_save
      ? this.#io.save({ hard_state: rd.hard_state, entries: rd.entries, snapshot: rd.snapshot })
      : Promise.resolve();
    this.#saving = true;
    try {
      // The main side hears of accepted proposals only now: telling it first would hold the
      // appends and the write behind a wake-up of the main isolate. The outbox still goes
      // out before any hand-out, so an entry's acceptance always precedes its commit.
      const outputs = hand_out_early
        ? this.#flushOutbox().then(() => this.#handOut(rd))
        : this.#flushOutbox();
      // If an output fails the worker is dying anyway; never leave the save unobserved.
      await Promise.all([outputs, saving]);
    } finally {
      this.#saving = false;
    }
    if (this.#fatal) throw this.#fatal;
    if (rd.hard_state) this.#durable_vote = { term: rd.hard_state.term, vote: rd.hard_state.vote };
    if (!send_early) this.#sendAll(rd);
    if (!hand_out_early) await this.#handOut(rd);
    this.#node.advance(rd);
    for (const entry of rd.committed_entries) {
      if (entry.type === EntryType.ConfChange) this.#afterConfChange(entry);
    }
  }

  /** A leader may send before its write only if term and vote are already durable. */
  #canSendBeforeSave(rd: Ready): boolean {
    const role = rd.soft_state?.role ?? this.#leader.role;
    if (role !== Role.Leader || rd.snapshot !== undefined) return false;
    const hard = rd.hard_state;
    return hard === undefined ||
      (hard.term === this.#durable_vote.term && hard.vote === this.#durable_vote.vote);
  }

  #sendAll(rd: Ready): void {
    for (const message of rd.messages) {
      let payload: Uint8Array | null = null;
      try {
        payload = encodeMessage(message);
      } catch (err) {
        if (!(err instanceof CodecError)) throw err;
        this.#io.log(`raft worker: cannot send ${MessageType[message.type]}: ${err.message}`);
      }
      if (payload !== null && this.#io.send(message.to, payload)) continue;
      // Dropped: tell the core, so it probes instead of waiting (a lost snapshot would
      // otherwise hold the follower until the core's retry timeout).
      if (message.type === MessageType.Snap) this.#node.reportSnapshot(message.to, false);
      this.#node.reportUnreachable(message.to);
    }
  }

  /** The transport lost messages to `peer` (connection failed or closed). */
  peerUnreachable(peer: NodeId): void {
    if (this.#fatal) return;
    this.#node.reportUnreachable(peer);
    this.#schedule();
  }

  /**
   * A receiver could not install the snapshot sent to `peer`: the core probes again and
   * resends one later, instead of waiting for its snapshot timeout.
   */
  snapshotFailed(peer: NodeId): void {
    if (this.#fatal) return;
    this.#node.reportSnapshot(peer, false);
    this.#schedule();
  }

  /** Ends the core's vote hold (the cluster turned out to be new). */
  releaseVoteHold(): void {
    if (this.#fatal) return;
    this.#node.releaseVoteHold();
    this.#schedule();
  }

  /** Whether the core holds its vote (see RaftConfig.vote_hold). */
  get vote_held(): boolean {
    return this.#node.vote_held;
  }

  /** The core's commit index. */
  get committed_index(): number {
    return this.#node.logBounds().committed;
  }

  /** Hands leader changes, read points and committed entries to the main side. */
  async #handOut(rd: Ready): Promise<void> {
    let leader: LeaderInfo | undefined;
    const term = rd.hard_state?.term ?? this.#leader.term;
    if (rd.soft_state || term !== this.#leader.term) {
      const soft = rd.soft_state ?? this.#leader;
      leader = { leader: soft.leader, role: soft.role, term };
      this.#leader = leader;
    }
    const reads: ReadPoint[] = rd.read_states.map((rs) => ({
      id: readIdOf(rs.request_ctx),
      index: rs.index,
    }));
    if (leader || reads.length > 0 || rd.snapshot || rd.committed_entries.length > 0) {
      const event: DriverEvent = { tag: EventTag.Applied, reads, entries: rd.committed_entries };
      if (leader) event.leader = leader;
      if (rd.snapshot) event.snapshot = rd.snapshot;
      await this.#io.emit(encodeEvent(event));
    }
  }

  #afterConfChange(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    if (change.type === ConfChangeType.RemoveNode && change.node_id !== this.#node.id) {
      this.#io.setPeer(change.node_id, null);
    }
  }

  #absorbInputs(): void {
    const ticks = Math.min(this.#pending_ticks, this.#limits.max_ticks_per_round);
    this.#pending_ticks = 0;
    for (let i = 0; i < ticks; i++) this.#node.tick();
    const inbox = this.#inbox;
    this.#inbox = [];
    for (const payload of inbox) this.#stepMessage(payload);
    const commands = this.#commands;
    this.#commands = [];
    let batch_ids: number[] = [];
    let batch_data: Uint8Array[] = [];
    for (const command of commands) {
      if (command.tag === CommandTag.Propose) {
        batch_ids.push(command.id);
        batch_data.push(command.data);
        if (batch_ids.length < this.#limits.max_proposals_per_batch) continue;
      }
      if (batch_ids.length > 0) {
        this.#proposeBatch(batch_ids, batch_data);
        batch_ids = [];
        batch_data = [];
      }
      if (command.tag !== CommandTag.Propose) this.#handleCommand(command);
    }
    if (batch_ids.length > 0) this.#proposeBatch(batch_ids, batch_data);
  }

  #stepMessage(payload: Uint8Array): void {
    try {
      const message = decodeMessage(payload);
      const gate = this.#io.admitSnapshot;
      if (message.type === MessageType.Snap && gate && !gate.call(this.#io, message, payload)) {
        return;
      }
      this.#node.step(message);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      this.#io.log(`raft worker: dropping a malformed peer message: ${err.message}`);
    }
  }

  #proposeBatch(ids: number[], data: Uint8Array[]): void {
    const status = this.#node.status();
    if (status.soft_state.role !== Role.Leader) {
      const leader = status.soft_state.leader;
      this.#outbox.push({
        tag: EventTag.Rejected,
        reason: `node ${this.#node.id} is not the leader` +
          (leader ? ` (the leader is ${leader})` : " (no leader is known)"),
        ids,
      });
      return;
    }
    const before = this.#node.logBounds().last;
    try {
      this.#node.proposeBatch(data);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.#outbox.push({ tag: EventTag.Rejected, reason: err.message, ids });
      return;
    }
    const after = this.#node.logBounds().last;
    if (after - before !== ids.length) {
      throw new Error(`leader appended ${after - before} entries for ${ids.length} proposals`);
    }
    this.#outbox.push({
      tag: EventTag.Accepted,
      first_index: before + 1,
      term: this.#node.termAt(before + 1),
      ids,
    });
  }

  #handleCommand(command: DriverCommand): void {
    switch (command.tag) {
      case CommandTag.ProposeConfChange:
        return this.#proposeConfChange(command.id, command.change_type, command.node_id);
      case CommandTag.ReadIndex:
        try {
          this.#node.readIndex(readContextOf(command.id));
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
          this.#reply(command.id, false, err.message);
        }
        return;
      case CommandTag.TransferLeader:
        this.#node.transferLeader(command.to);
        return;
      case CommandTag.Status:
        this.#reply(command.id, true, JSON.stringify(this.#status()));
        return;
      case CommandTag.SetPeer:
        this.#io.setPeer(command.node_id, { hostname: command.hostname, port: command.port });
        return;
      case CommandTag.Snapshot:
        this.#takeSnapshot(command.id, command.index, command.data);
        return;
      case CommandTag.Stop:
        this.#stop_requested = true;
        return;
      case CommandTag.Configure:
      case CommandTag.Propose:
        throw new Error(`command ${CommandTag[command.tag]} is not valid here`);
    }
  }

  #proposeConfChange(id: number, type: ConfChangeType, node_id: NodeId): void {
    const role = this.#node.status().soft_state.role;
    const before = this.#node.logBounds().last;
    try {
      if (role !== Role.Leader) {
        throw new ProposalDroppedError(`node ${this.#node.id} is not the leader`);
      }
      this.#node.proposeConfChange({ type, node_id });
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.#outbox.push({ tag: EventTag.Rejected, reason: err.message, ids: [id] });
      return;
    }
    this.#outbox.push({
      tag: EventTag.Accepted,
      first_index: before + 1,
      term: this.#node.termAt(before + 1),
      ids: [id],
    });
  }

  #takeSnapshot(id: number, index: number, data: Uint8Array): void {
    const applied = this.#node.status().applied;
    if (index > applied || this.#node.confAppliedIndex() > index) {
      this.#reply(
        id,
        false,
        `snapshot index ${index} must be at most the applied index ${applied} and at least ` +
          `the last membership change ${this.#node.confAppliedIndex()}`,
      );
      return;
    }
    const conf_state = this.#node.confState();
    // Runs beside the loop: the snapshot file is written and synced on its own.
    this.#io.snapshot(index, conf_state, data).then(
      () => this.#reply(id, true, JSON.stringify({ index })),
      (err) => this.#reply(id, false, (err as Error).message),
    ).finally(() => this.#schedule());
  }

  #status(): Record<string, unknown> {
    const status = this.#node.status();
    return {
      id: status.id,
      hard_state: status.hard_state,
      leader: status.soft_state.leader,
      role: Role[status.soft_state.role],
      applied: status.applied,
      conf_state: status.conf_state,
      log: this.#node.logBounds(),
      progress: Object.fromEntries(status.progress),
      dropped_inbound_messages: this.dropped_messages,
      vote_held: this.#node.vote_held,
      ...this.#io.extraStatus(),
    };
  }

  #reply(id: number, ok: boolean, json: string): void {
    this.#outbox.push({ tag: EventTag.Reply, id, ok, json: ok ? json : JSON.stringify(json) });
  }

  async #flushOutbox(): Promise<void> {
    // Bounded: the outbox only holds what the last absorb produced.
    while (this.#outbox.length > 0) {
      const events = this.#outbox;
      this.#outbox = [];
      for (const event of events) await this.#io.emit(encodeEvent(event));
    }
  }
}

/** The 8-byte ReadIndex context carrying a request id. */
export function readContextOf(id: number): Uint8Array {
  const context = new Uint8Array(8);
  new DataView(context.buffer).setFloat64(0, id, true);
  return context;
}

/** The request id in a ReadIndex context (NaN if it is not one of ours). */
export function readIdOf(context: Uint8Array): number {
  if (context.length !== 8) return NaN;
  return new DataView(context.buffer, context.byteOffset, 8).getFloat64(0, true);
}
