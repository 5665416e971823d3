/**
 * The main isolate's side of a Raft node: starts the dedicated worker, sends it proposals and
 * requests through the worker channel, and turns its events into settled promises, an async
 * iterator of committed entries and leader changes.
 *
 * @module
 */
import {
  ChannelClosedError,
  spawnWorkerChannel,
  type WorkerChannel,
} from "../../../shared/channel/mod.ts";
import { type ConfChangeType, type Entry, type NodeId, Role, type Snapshot } from "../core/mod.ts";
import type { PeerAddress } from "../transport/mod.ts";
import {
  CommandTag,
  decodeEvent,
  type DriverCommand,
  type DriverEvent,
  encodeCommand,
  EventTag,
} from "./driver_protocol.ts";
import {
  type CommitPosition,
  ProposalFailedError,
  ProposalTracker,
  ReadTracker,
  TooManyPendingError,
} from "./proposal_tracker.ts";
import { type RaftNodeConfig, resolveConfig } from "./worker_config.ts";

/** Options of the main side, beside the node's {@link RaftNodeConfig}. */
export interface RaftNodeHandleOptions {
  /** Most proposals in flight (default 8,192); more are refused at once. */
  max_pending_proposals?: number;
  /** Most reads in flight (default 4,096). */
  max_pending_reads?: number;
  /** Most committed entries buffered for the iterator before the worker is slowed (65,536). */
  max_buffered_entries?: number;
  /** Ring capacity per direction (default 8 MiB). */
  channel_capacity_bytes?: number;
  /** How long `stop()` waits for a clean exit before terminating (default 10 s). */
  stop_timeout_ms?: number;
}

/** What `status()` reports (from the worker, as JSON). */
export interface RaftNodeStatus {
  /** This node. */
  id: NodeId;
  /** Persistent state. */
  hard_state: { term: number; vote: NodeId | null; commit: number };
  /** Known leader. */
  leader: NodeId | null;
  /** Role name: Follower, PreCandidate, Candidate or Leader. */
  role: string;
  /** Highest index handed out. */
  applied: number;
  /** Log bounds and commit index. */
  log: { first: number; last: number; committed: number };
  /** Anything else the worker reports (log and transport counters, progress). */
  [more: string]: unknown;
}

/**
 * What {@link RaftNodeHandle.committed} yields, in log order: a committed entry, or a snapshot
 * received from the leader that replaces all state before it (restore it, then go on).
 */
export type CommittedItem =
  | { kind: "entry"; entry: Entry }
  | { kind: "snapshot"; snapshot: Snapshot };

/** Largest command accepted by `propose` (the transport's frame limit leaves room). */
export const MAX_PROPOSAL_BYTES = 8 * 1024 * 1024;

const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/**
 * Starts a Raft node in a dedicated worker and resolves once its transport listens.
 * Rejects with the worker's error if the log cannot be opened (corruption, lock held, ...).
 *
 * @example
 * ```ts
 * const node = await startRaftNode({
 *   id: "a", cluster_id: "blueprint", data_dir: "/var/lib/draft/raft-a",
 *   listen: { hostname: "0.0.0.0", port: 7001 },
 *   peers: { b: { hostname: "10.0.0.2", port: 7001 }, c: { hostname: "10.0.0.3", port: 7001 } },
 * });
 * const { index } = await node.propose(new TextEncoder().encode("set x 1"));
 * for await (const item of node.committed()) {
 *   if (item.kind === "snapshot") restore(item.snapshot.data);
 *   else apply(item.entry);
 * }
 * ```
 */
export async function startRaftNode(
  config: RaftNodeConfig,
  options: RaftNodeHandleOptions = {},
): Promise<RaftNodeHandle> {
  const resolved = resolveConfig(config);
  const channel = await spawnWorkerChannel(new URL("./raft_worker.ts", import.meta.url), {
    capacity_bytes: options.channel_capacity_bytes ?? 8 * 1024 * 1024,
    name: `raft-${resolved.id}`,
  });
  try {
    await channel.sender.send(
      encodeCommand({ tag: CommandTag.Configure, config_json: JSON.stringify(resolved) }),
    );
    const first = await channel.receiver.receive();
    if (first === null) throw new Error(`raft node ${resolved.id}: worker exited while starting`);
    const event = decodeEvent(first);
    if (event.tag === EventTag.Failed) {
      throw new Error(`raft node ${resolved.id} failed to start: ${event.message}`);
    }
    if (event.tag !== EventTag.Started) {
      throw new Error(`raft node ${resolved.id}: unexpected first event ${EventTag[event.tag]}`);
    }
    return new RaftNodeHandle(resolved.id, channel, event, options);
  } catch (err) {
    channel.terminate();
    throw err;
  }
}

/** A running Raft node, seen from the main isolate. */
export class RaftNodeHandle {
  /** This node's id. */
  readonly id: NodeId;
  /** Where its transport listens. */
  readonly address: PeerAddress;
  readonly #channel: WorkerChannel;
  readonly #proposals: ProposalTracker;
  readonly #reads: ReadTracker;
  readonly #requests = new Map<number, { resolve(json: string): void; reject(e: Error): void }>();
  readonly #max_buffered_entries: number;
  readonly #stop_timeout_ms: number;
  #next_request_id = 1;
  #leader: NodeId | null = null;
  #role: Role = Role.Follower;
  #term = 0;
  #applied_index = 0;
  #buffer: CommittedItem[] | null = null;
  #buffer_head = 0;
  #consumer_waiting: (() => void) | null = null;
  #space_waiting: (() => void) | null = null;
  #closed: Error | null = null;
  #event_loop: Promise<void>;
  #leader_listeners = new Set<(leader: NodeId | null, term: number) => void>();

  /** Use {@link startRaftNode}. */
  constructor(
    id: NodeId,
    channel: WorkerChannel,
    started: { hostname: string; port: number },
    options: RaftNodeHandleOptions,
  ) {
    this.id = id;
    this.address = { hostname: started.hostname, port: started.port };
    this.#channel = channel;
    this.#proposals = new ProposalTracker(options.max_pending_proposals ?? 8_192);
    this.#reads = new ReadTracker(options.max_pending_reads ?? 4_096);
    this.#max_buffered_entries = options.max_buffered_entries ?? 65_536;
    this.#stop_timeout_ms = options.stop_timeout_ms ?? DEFAULT_STOP_TIMEOUT_MS;
    this.#event_loop = this.#receiveEvents();
  }

  /** The leader as last reported (null when unknown). */
  get leader(): NodeId | null {
    return this.#leader;
  }

  /** Whether this node is the leader, as last reported. */
  get is_leader(): boolean {
    return this.#role === Role.Leader;
  }

  /** Current term as last reported. */
  get term(): number {
    return this.#term;
  }

  /** Highest committed index handed to this side. */
  get applied_index(): number {
    return this.#applied_index;
  }

  /**
   * Proposes a command; resolves with its position once committed. Rejects with
   * {@link ProposalFailedError} when this node is not the leader or loses leadership before the
   * commit, {@link TooManyPendingError} when too many are in flight.
   */
  propose(data: Uint8Array): Promise<CommitPosition> {
    if (data.length > MAX_PROPOSAL_BYTES) {
      return Promise.reject(
        new RangeError(`proposal of ${data.length} bytes; at most ${MAX_PROPOSAL_BYTES} allowed`),
      );
    }
    return this.#submit((id) => ({ tag: CommandTag.Propose, id, data }));
  }

  /** Proposes a membership change; resolves when it is committed. */
  proposeConfChange(change: { type: ConfChangeType; node_id: NodeId }): Promise<CommitPosition> {
    return this.#submit((id) => ({
      tag: CommandTag.ProposeConfChange,
      id,
      change_type: change.type,
      node_id: change.node_id,
    }));
  }

  /**
   * A linearizable read point: resolves with an index once the leader confirmed it and every
   * entry up to it was handed to this side (apply them before serving the read).
   */
  readIndex(): Promise<number> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#next_request_id++;
    let promise: Promise<number>;
    try {
      promise = this.#reads.register(id);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#command({ tag: CommandTag.ReadIndex, id });
    return promise;
  }

  /** Asks the leader to hand leadership to `to` (watch {@link RaftNodeHandle.leader}). */
  transferLeader(to: NodeId): void {
    this.#command({ tag: CommandTag.TransferLeader, to });
  }

  /** Learns or changes a peer's address (for members added later). */
  setPeer(id: NodeId, address: PeerAddress): void {
    this.#command({ tag: CommandTag.SetPeer, node_id: id, ...address });
  }

  /**
   * Stores an application snapshot covering entries up to `index` (at most the applied index)
   * and compacts the log below it.
   */
  async snapshot(index: number, data: Uint8Array): Promise<void> {
    await this.#request((id) => ({ tag: CommandTag.Snapshot, id, index, data }));
  }

  /** The worker's view: hard state, role, log bounds, counters. */
  async status(): Promise<RaftNodeStatus> {
    return JSON.parse(await this.#request((id) => ({ tag: CommandTag.Status, id })));
  }

  /** Calls `listener` whenever the known leader or term changes. Returns an unsubscribe. */
  onLeaderChange(listener: (leader: NodeId | null, term: number) => void): () => void {
    this.#leader_listeners.add(listener);
    return () => this.#leader_listeners.delete(listener);
  }

  /**
   * Committed entries (and installed snapshots), in order, from the moment of the first call
   * (earlier ones are not kept). One consumer only. A slow consumer slows the node (bounded
   * buffer), never the heap.
   */
  committed(): AsyncIterableIterator<CommittedItem> {
    return this.#consume("committed()", 1, (items) => items[0]);
  }

  /**
   * Like {@link committed}, but each step yields every item buffered at that moment (at
   * least one, at most `max_items`), so that a consumer can apply them together. Only one of
   * `committed` and `committedBatches` may be called, once.
   */
  committedBatches(max_items = 1024): AsyncIterableIterator<CommittedItem[]> {
    if (!Number.isInteger(max_items) || max_items < 1) {
      throw new RangeError(`max_items must be a positive integer, got ${max_items}`);
    }
    return this.#consume("committedBatches()", max_items, (items) => items);
  }

  /** The one consumer's iterator: each step takes up to `max_items` items and yields `pick`'s. */
  #consume<T>(
    what: string,
    max_items: number,
    pick: (items: CommittedItem[]) => T,
  ): AsyncIterableIterator<T> {
    if (this.#buffer !== null) {
      throw new Error(`${what}: committed items may be consumed only once`);
    }
    this.#buffer = [];
    const next = async (): Promise<IteratorResult<T>> => {
      const items = await this.#take(max_items);
      return items === null
        ? { value: undefined, done: true }
        : { value: pick(items), done: false };
    };
    const iterator: AsyncIterableIterator<T> = { next, [Symbol.asyncIterator]: () => iterator };
    return iterator;
  }

  /** Up to `max_items` buffered items (waiting for one), or null at the end of the stream. */
  async #take(max_items: number): Promise<CommittedItem[] | null> {
    // Bounded: each wait ends with a new entry or the end of the stream.
    for (;;) {
      const buffer = this.#buffer!;
      if (this.#buffer_head < buffer.length) {
        const end = Math.min(buffer.length, this.#buffer_head + max_items);
        const items = buffer.slice(this.#buffer_head, end);
        this.#buffer_head = end;
        if (this.#buffer_head > 4096 && this.#buffer_head * 2 > buffer.length) {
          this.#buffer = buffer.slice(this.#buffer_head);
          this.#buffer_head = 0;
        }
        this.#wakeProducer();
        return items;
      }
      if (this.#closed) return null;
      await new Promise<void>((resolve) => (this.#consumer_waiting = resolve));
    }
  }

  /** Stops the worker cleanly (closing its log and sockets), terminating it after a timeout. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#command({ tag: CommandTag.Stop });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#stop_timeout_ms);
    });
    await Promise.race([this.#event_loop, timeout]);
    clearTimeout(timer);
    this.#shutDown(new ProposalFailedError(`raft node ${this.id} was stopped`));
  }

  /** Terminates the worker at once, as a crash would (unsynced writes may be lost). */
  kill(): void {
    this.#shutDown(new ProposalFailedError(`raft node ${this.id} was killed`));
  }

  // ---- internals ---------------------------------------------------------------------------

  #submit(make: (id: number) => DriverCommand): Promise<CommitPosition> {
    if (this.#closed) return Promise.reject(this.#closed);
    let registered: { id: number; promise: Promise<CommitPosition> };
    try {
      registered = this.#proposals.register();
    } catch (err) {
      return Promise.reject(err as TooManyPendingError);
    }
    this.#command(make(registered.id));
    return registered.promise;
  }

  #request(make: (id: number) => DriverCommand): Promise<string> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#requests.size >= 1024) {
      return Promise.reject(new TooManyPendingError(1024, "status and snapshot requests"));
    }
    const id = this.#next_request_id++;
    const promise = new Promise<string>((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
    });
    this.#command(make(id));
    return promise;
  }

  #command(command: DriverCommand): void {
    if (this.#closed) return;
    const bytes = encodeCommand(command);
    // The ring keeps call order; a full ring makes `send` wait (back-pressure), bounded by
    // the pending-proposal limit.
    if (!this.#channel.sender.trySend(bytes)) {
      this.#channel.sender.send(bytes).catch((err) => this.#shutDown(asError(err)));
    }
  }

  async #receiveEvents(): Promise<void> {
    try {
      for (;;) {
        const bytes = await this.#channel.receiver.receive();
        if (bytes === null) break;
        const event = decodeEvent(bytes);
        if (event.tag === EventTag.Stopped) break;
        if (event.tag === EventTag.Failed) {
          throw new Error(`raft node ${this.id} failed: ${event.message}`);
        }
        await this.#handleEvent(event);
      }
      this.#shutDown(new ProposalFailedError(`raft node ${this.id} stopped`));
    } catch (err) {
      this.#shutDown(
        err instanceof ChannelClosedError
          ? new ProposalFailedError(`raft node ${this.id}'s worker exited: ${err.message}`)
          : asError(err),
      );
    }
  }

  async #handleEvent(event: DriverEvent): Promise<void> {
    switch (event.tag) {
      case EventTag.Accepted:
        this.#proposals.accepted(event.first_index, event.term, event.ids);
        return;
      case EventTag.Rejected:
        this.#proposals.rejected(event.reason, event.ids);
        return;
      case EventTag.Reply:
        return this.#settleReply(event.id, event.ok, event.json);
      case EventTag.Applied: {
        if (event.leader) this.#leaderChanged(event.leader);
        for (const entry of event.entries) this.#proposals.committed(entry);
        const items: CommittedItem[] = [];
        if (event.snapshot) {
          items.push({ kind: "snapshot", snapshot: event.snapshot });
          this.#applied_index = Math.max(this.#applied_index, event.snapshot.meta.index);
        }
        for (const entry of event.entries) items.push({ kind: "entry", entry });
        if (event.entries.length > 0) {
          this.#applied_index = event.entries[event.entries.length - 1].index;
        }
        if (items.length > 0) await this.#deliver(items);
        for (const read of event.reads) this.#reads.readPoint(read.id, read.index);
        this.#reads.appliedTo(this.#applied_index);
        return;
      }
      default:
        throw new Error(`raft node ${this.id}: unexpected event ${EventTag[event.tag]}`);
    }
  }

  #settleReply(id: number, ok: boolean, json: string): void {
    const request = this.#requests.get(id);
    if (request) {
      this.#requests.delete(id);
      if (ok) request.resolve(json);
      else request.reject(new ProposalFailedError(JSON.parse(json)));
      return;
    }
    if (!ok && this.#reads.has(id)) this.#reads.failed(id, JSON.parse(json));
  }

  #leaderChanged(info: { leader: NodeId | null; role: Role; term: number }): void {
    const was_leader = this.#role === Role.Leader;
    this.#role = info.role;
    if (was_leader && info.role !== Role.Leader) {
      this.#proposals.leadershipLost(
        `node ${this.id} is now ${Role[info.role]} in term ${info.term}` +
          (info.leader ? `, leader ${info.leader}` : ""),
      );
    }
    if (info.leader !== this.#leader || info.term !== this.#term) {
      this.#leader = info.leader;
      this.#term = info.term;
      for (const listener of this.#leader_listeners) listener(info.leader, info.term);
    }
  }

  async #deliver(items: CommittedItem[]): Promise<void> {
    if (this.#buffer === null) return;
    // Bounded: waits only while the consumer is behind by the buffer limit.
    while (this.#buffer.length - this.#buffer_head >= this.#max_buffered_entries && !this.#closed) {
      await new Promise<void>((resolve) => (this.#space_waiting = resolve));
    }
    for (const item of items) this.#buffer.push(item);
    const wake = this.#consumer_waiting;
    this.#consumer_waiting = null;
    wake?.();
  }

  #wakeProducer(): void {
    const wake = this.#space_waiting;
    this.#space_waiting = null;
    wake?.();
  }

  #shutDown(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    this.#channel.terminate();
    this.#proposals.failAll(reason);
    this.#reads.failAll(reason);
    for (const request of this.#requests.values()) request.reject(reason);
    this.#requests.clear();
    this.#wakeProducer();
    const wake = this.#consumer_waiting;
    this.#consumer_waiting = null;
    wake?.();
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Errors and results of proposals, re-exported for the driver's public face. */
export { ProposalFailedError, TooManyPendingError };
export type { CommitPosition };
