/**
 * A Blueprint node: the LSM storage, the KV state machine and its watch hub, a Raft member
 * in its worker, the apply loop between them, and the gRPC server with etcd's API.
 *
 * Writes are proposed on the leader; a follower forwards them (encoded, origin kept) to the
 * leader's client address, so a retry after a leader change is de-duplicated by the state
 * machine and never applied twice. Reads are linearizable through ReadIndex unless the
 * request asks for a serializable local read.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  checkpointIndexOf,
  ConfChangeType,
  type ConfState,
  decodeDescriptor,
  encodeDescriptor,
  newCheckpointId,
  ProposalFailedError,
  type RaftNodeHandle,
  removeDirectory,
  type Snapshot,
  startRaftNode,
  TooManyPendingError,
} from "../raft/mod.ts";
import {
  decodeResponse,
  DEFAULT_DEDUP_OPTIONS,
  encodeRequest,
  KvError,
  type KvLimits,
  type KvResponse,
  KvStateMachine,
  type Origin,
  type RequestBody,
  WatchHub,
} from "../kv/mod.ts";
import { Storage } from "../storage/mod.ts";
import { NodeFileSystem } from "../../shared/fs/mod.ts";
import { RegistryService } from "../registry/mod.ts";
import { loadRegistrySchema } from "../../shared/proto/draft/mod.ts";
import {
  loadEtcdSchema,
  methodOf,
  ProtoSchema,
  type ResponseHeader,
} from "../../shared/proto/mod.ts";
import {
  etcdError,
  RpcChannel,
  RpcError,
  RpcServer,
  Status,
  unavailable,
} from "../../shared/rpc/mod.ts";
import { Applier } from "./applier.ts";
import { type NodeConfig, parseHostPort } from "./config.ts";
import { rpcErrorOfKv } from "./etcd_mapping.ts";
import { clusterIdOf, memberIdOf } from "./member_ids.ts";
import { encodeNodeCommand, type MemberRecord, type NodeCommand } from "./node_entry.ts";
import { addServices, INTERNAL_SERVICE } from "./services.ts";
import {
  CHECKPOINTS_DIR,
  openCurrentStore,
  RECEIVED_DIR,
  type StoreDirectoryOptions,
  switchStore,
} from "./store_directory.ts";

/**
 * Sequence numbers remembered per origin by the state machine. Every member must use the
 * same value (it decides what is applied), so it is a constant, not a setting. Large enough
 * for a follower's forwarded writes to arrive out of order by a few hundred.
 */
export const DEDUP_WINDOW_SIZE = 4096;
/** Most committed items the apply loop takes (and applies together) at once. */
const MAX_ITEMS_PER_APPLY = 1024;

/** Limits the state machine applies with: the ceilings, so that members never disagree. */
const MACHINE_LIMITS: KvLimits = {
  max_key_bytes: 64 * 1024,
  max_value_bytes: 8 * 1024 * 1024,
  max_txn_ops: 10_000,
  max_request_bytes: 8 * 1024 * 1024,
};

/** Tries of one write (leader changes in between are retried with the same origin). */
const MAX_WRITE_ATTEMPTS = 20;
/** How often the leader looks for expired leases and members publish their addresses. */
const HOUSEKEEPING_INTERVAL_MS = 200;
/** Most lease revokes in flight at once. */
const MAX_REVOKES_IN_FLIGHT = 64;
/** Bounds the join handshake: attempts, spaced by {@link JOIN_RETRY_MS}. */
const MAX_JOIN_ATTEMPTS = 120;
const JOIN_RETRY_MS = 500;
/** How often a joined learner asks to be promoted. */
const PROMOTE_RETRY_MS = 1000;
/**
 * Entries between tries of a checkpoint Raft's snapshot needs (after installing a received
 * snapshot, whose descriptor names the sender's checkpoint) when a try failed.
 */
const OWN_CHECKPOINT_RETRY_ENTRIES = 64;
/** Most learners waiting to be promoted by the leader. */
const MAX_AUTO_PROMOTE = 64;

/** Options of {@link BlueprintNode.start} beyond the configuration. */
export interface BlueprintNodeOptions {
  /** Receives one line per notable event (leader changes, joins); default: nothing. */
  log?: (line: string) => void;
  /** Seed of Raft's election randomness (tests). */
  raft_seed?: number;
}

/** What {@link BlueprintNode.status} reports. */
export interface NodeStatus {
  /** Member name. */
  id: string;
  /** Known leader name, or null. */
  leader: string | null;
  /** Raft term. */
  term: number;
  /** Last applied Raft index. */
  applied_index: number;
  /** Raft commit index. */
  commit_index: number;
  /** Store revision. */
  revision: number;
  /** Current voters and learners. */
  conf_state: ConfState;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A running Blueprint member.
 *
 * @example
 * ```ts
 * const node = await BlueprintNode.start(resolveNodeConfig({
 *   flags: { id: "n1", data: "/tmp/n1", "client-addr": "127.0.0.1:2379", "raft-addr": "127.0.0.1:2380" },
 * }));
 * console.log(`serving on ${node.client_address}`);
 * await node.stop();
 * ```
 */
export class BlueprintNode {
  /** The process registry this member serves (Draft's `Registry` gRPC service). */
  readonly registry: RegistryService;
  /** The registry protocol. */
  readonly registry_schema: ProtoSchema;
  /** The resolved configuration. */
  readonly config: NodeConfig;
  /** Member name. */
  readonly id: string;
  /** etcd member ID. */
  readonly member_id: bigint;
  /** etcd cluster ID. */
  readonly cluster_id: bigint;
  /** The KV state machine. */
  readonly machine: KvStateMachine;
  /** Fans applied events out to watchers. */
  readonly hub: WatchHub;
  /** The apply loop's core and the member table. */
  readonly applier: Applier;
  /** The etcd API schema. */
  readonly schema: ProtoSchema;
  /** The internal API schema. */
  readonly internal_schema: ProtoSchema;
  /** Limits checked before proposing. */
  readonly limits: KvLimits;
  /** Streams to end at shutdown (Watch, LeaseKeepAlive). */
  readonly open_streams: Set<() => void> = new Set();
  readonly #options: BlueprintNodeOptions;
  readonly #server: RpcServer;
  readonly #origin_id: string;
  readonly #channels = new Map<string, RpcChannel>();
  readonly #revoking = new Set<number>();
  #raft: RaftNodeHandle | undefined;
  #client_address = "";
  #sequence = 0;
  #stopping = false;
  #apply_loop: Promise<void> = Promise.resolve();
  #housekeeping: Promise<void> = Promise.resolve();
  #last_snapshot_index = 0;
  /** Set when Raft's snapshot does not name a checkpoint of this member (after an install). */
  #needs_own_checkpoint = false;
  /** The snapshot being taken beside the apply loop, if any. */
  #snapshotting: Promise<void> | null = null;
  readonly #store_options: StoreDirectoryOptions;
  #last_promote_ms = 0;
  #last_housekeeping_error = "";
  readonly #auto_promote = new Set<string>();
  #removed = false;
  #queued_read: Promise<number> | null = null;
  #inflight_read: Promise<number> | null = null;
  #conf_state: ConfState = { voters: [], learners: [] };
  #failure: Error | undefined;
  #report_failure: (error: Error) => void = () => {};
  /**
   * Resolves with the error if the apply loop fails (the member can no longer follow the
   * log and should be restarted); never settles otherwise.
   */
  readonly failed: Promise<Error> = new Promise((resolve) => (this.#report_failure = resolve));

  private constructor(
    config: NodeConfig,
    store_options: StoreDirectoryOptions,
    machine: KvStateMachine,
    schemas: { etcd: ProtoSchema; internal: ProtoSchema; registry: ProtoSchema },
    options: BlueprintNodeOptions,
  ) {
    this.config = config;
    this.id = config.id;
    this.member_id = memberIdOf(config.id);
    this.cluster_id = clusterIdOf(config.cluster_name);
    this.#store_options = store_options;
    this.machine = machine;
    this.hub = new WatchHub(machine);
    this.schema = schemas.etcd;
    this.internal_schema = schemas.internal;
    this.registry_schema = schemas.registry;
    this.registry = new RegistryService(this, {
      join_token: config.join_token,
      lost_grace_ms: config.registry_lost_grace_ms,
      member_id_of: memberIdOf,
    });
    this.#options = options;
    this.limits = {
      max_key_bytes: config.max_key_bytes,
      max_value_bytes: config.max_value_bytes,
      max_txn_ops: config.max_txn_ops,
      max_request_bytes: config.max_request_bytes,
    };
    // A fresh origin per start: sequences restart at 1, and the old incarnation's window
    // must not answer for the new one's requests.
    const incarnation = crypto.getRandomValues(new Uint32Array(2));
    this.#origin_id = `${config.id}/${incarnation[0].toString(16)}${incarnation[1].toString(16)}`;
    this.applier = new Applier(machine, {
      installSnapshot: (snapshot) => this.#installSnapshot(snapshot),
      membersChanged: () => this.#connectPeers(),
      confChanged: () => this.#refreshConfState(),
    });
    this.#server = new RpcServer({ max_request_bytes: config.max_request_bytes });
  }

  /**
   * Opens the data directory, starts Raft (joining a running cluster when configured) and
   * serves the client API. Rejects naming what failed; nothing is left running then.
   */
  static async start(
    config: NodeConfig,
    options: BlueprintNodeOptions = {},
  ): Promise<BlueprintNode> {
    await Deno.mkdir(config.data_dir, { recursive: true });
    const schemas = {
      etcd: await loadEtcdSchema(),
      internal: await ProtoSchema.load(["internal.proto"], {
        base_url: new URL("./", import.meta.url),
      }),
      registry: await loadRegistrySchema(),
    };
    const store_options: StoreDirectoryOptions = {
      fs: new NodeFileSystem(),
      data_dir: config.data_dir,
      open: (dir) => Storage.open(dir),
      log: (line) => options.log?.(`blueprint ${config.id}: ${line}`),
    };
    const storage = await openCurrentStore(store_options);
    let node: BlueprintNode | undefined;
    try {
      const machine = await KvStateMachine.open(storage, {
        limits: MACHINE_LIMITS,
        dedup: { ...DEFAULT_DEDUP_OPTIONS, window_size: DEDUP_WINDOW_SIZE },
      });
      node = new BlueprintNode(config, store_options, machine, schemas, options);
      await node.#start();
      return node;
    } catch (error) {
      if (node) await node.stop().catch(() => {});
      else await storage.close().catch(() => {});
      throw error;
    }
  }

  async #start(): Promise<void> {
    addServices(this, this.#server);
    const listening = await this.#server.listen(this.config.client_address);
    this.#client_address = listening.address;
    const raft_dir = join(this.config.data_dir, "raft");
    const fresh = !(await exists(raft_dir));
    let initial_members = Object.keys(this.config.initial_cluster);
    const peers = new Map<string, string>(Object.entries(this.config.initial_cluster));
    if (this.config.join && fresh) {
      const joined = await this.#join();
      initial_members = joined.voters;
      for (const member of joined.members) peers.set(member.id, member.raft_address);
    }
    for (const member of this.applier.members.all()) peers.set(member.id, member.raft_address);
    peers.delete(this.id);
    this.#raft = await startRaftNode({
      id: this.id,
      cluster_id: this.config.cluster_name,
      data_dir: raft_dir,
      listen: parseHostPort(this.config.raft_address, "raft address"),
      peers: Object.fromEntries(
        [...peers].map(([id, address]) => [id, parseHostPort(address, `raft address of ${id}`)]),
      ),
      initial_members,
      tick_ms: this.config.tick_ms,
      election_tick: this.config.election_tick,
      applied_index: this.machine.appliedIndex,
      seed: this.#options.raft_seed,
      checkpoints_dir: join(this.config.data_dir, CHECKPOINTS_DIR),
      received_dir: join(this.config.data_dir, RECEIVED_DIR),
      // Lost its Raft state (wiped) or brand new: no vote until it knows which (see SNAPSHOT.md).
      hold_vote_when_fresh: true,
    });
    this.#last_snapshot_index = this.machine.appliedIndex;
    this.#needs_own_checkpoint = await this.#raftSnapshotIsForeign(this.#raft);
    if (this.#needs_own_checkpoint) this.#last_snapshot_index = -Infinity;
    this.#raft.onLeaderChange((leader, term) => {
      this.#options.log?.(`blueprint ${this.id}: leader ${leader ?? "(none)"} in term ${term}`);
      if (this.#raft?.is_leader) this.machine.refreshLeases(Date.now());
    });
    this.#apply_loop = this.#runApplyLoop(this.#raft);
    this.#housekeeping = this.#runHousekeeping();
    this.registry.start();
    await this.#refreshConfState();
  }

  /** The storage engine (a snapshot install replaces it with a received checkpoint). */
  get storage(): Storage {
    return this.machine.storage;
  }

  /** Where the client API listens (the bound port when 0 was configured). */
  get client_address(): string {
    return this.#client_address;
  }

  /** Where Raft listens (the bound port when 0 was configured). */
  get raft_address(): string {
    const address = this.raft.address;
    return `${address.hostname}:${address.port}`;
  }

  /** The Raft member. */
  get raft(): RaftNodeHandle {
    if (!this.#raft) throw unavailable(`blueprint ${this.id} is starting; retry shortly`);
    return this.#raft;
  }

  /** Whether this member leads. */
  get is_leader(): boolean {
    return this.#raft?.is_leader ?? false;
  }

  /** Current voters and learners, as last applied. */
  get conf_state(): ConfState {
    return this.#conf_state;
  }

  /** The leader's name, or null. */
  get leader(): string | null {
    return this.#raft?.leader ?? null;
  }

  /** The leader's client address, or "" when unknown. */
  get leader_client_address(): string {
    const leader = this.leader;
    if (leader === null) return "";
    if (leader === this.id) return this.#client_address;
    return this.applier.members.get(leader)?.client_address ?? "";
  }

  /** The response header every answer carries. */
  header(revision: number = this.machine.revision): ResponseHeader {
    const leader = this.leader;
    return {
      cluster_id: this.cluster_id,
      member_id: this.member_id,
      revision: BigInt(revision),
      raft_term: BigInt(this.#raft?.term ?? 0),
      leader_id: leader === null ? 0n : memberIdOf(leader),
      leader_client_address: this.leader_client_address,
    };
  }

  /** Details for errors that send the client elsewhere. */
  leaderDetails(): Record<string, string> {
    const leader = this.leader;
    return leader === null ? {} : { leader_id: leader, leader_address: this.leader_client_address };
  }

  /** A deadline `request_timeout_ms` from now, in epoch ms. */
  deadline(): number {
    return Date.now() + this.config.request_timeout_ms;
  }

  // ---- writes ------------------------------------------------------------------------------

  /**
   * Replicates a write and answers its response (possibly an error body). Throws an
   * RpcError: INVALID_ARGUMENT for a bad request (nothing proposed), UNAVAILABLE when no
   * leader could take it before the deadline.
   */
  async write(body: RequestBody, deadline_ms: number = this.deadline()): Promise<KvResponse> {
    const origin: Origin = { member_id: this.#origin_id, sequence: ++this.#sequence };
    let bytes: Uint8Array;
    try {
      bytes = encodeRequest({ origin, body }, this.limits);
    } catch (error) {
      if (error instanceof KvError) throw rpcErrorOfKv(error);
      throw error;
    }
    return await this.submit(bytes, origin, deadline_ms, true);
  }

  /**
   * Proposes an encoded request (origin inside) and waits for its apply. With `forward`, a
   * follower sends it to the leader; without, a follower answers UNAVAILABLE naming the
   * leader (a forwarded request is never forwarded again, so no loops).
   */
  async submit(
    bytes: Uint8Array,
    origin: Origin,
    deadline_ms: number,
    forward: boolean,
  ): Promise<KvResponse> {
    // Whether the request may have reached Raft: only a request that never did may be
    // refused with etcd's exact "no leader" text, which tells clients a repeat is safe.
    let attempted = false;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      this.#checkRunning();
      if (Date.now() >= deadline_ms) break;
      const raft = this.raft;
      if (raft.is_leader) {
        attempted = true;
        try {
          return await this.#proposeAndWait(raft, bytes, origin, deadline_ms);
        } catch (error) {
          if (!(error instanceof ProposalFailedError)) throw error;
          // Leadership lost before the commit: the entry may still commit; retrying with the
          // same origin is safe either way.
          await this.#waitForLeader(deadline_ms);
          continue;
        }
      }
      if (!forward) {
        throw etcdError("NotLeader", `${this.id} is not the leader`, this.leaderDetails());
      }
      const address = this.leader_client_address;
      if (raft.leader === null || !address) {
        await this.#waitForLeader(deadline_ms);
        await sleep(Math.min(50, Math.max(0, deadline_ms - Date.now())));
        continue;
      }
      attempted = true;
      try {
        const reply = await this.peerChannel(address).unary<
          { request: Uint8Array },
          { response: Uint8Array }
        >(
          methodOf(this.internal_schema.service(INTERNAL_SERVICE), "Forward"),
          { request: bytes },
          { deadline_ms: Math.max(1, deadline_ms - Date.now()) },
        );
        return decodeResponse(reply.response);
      } catch (error) {
        if (!retriable(error)) throw error;
        await sleep(Math.min(50, Math.max(0, deadline_ms - Date.now())));
      }
    }
    if (!attempted) throw etcdError("NoLeader", undefined, this.leaderDetails());
    throw etcdError(
      this.leader === null ? "NoLeader" : "Timeout",
      `no leader took the request within ${this.config.request_timeout_ms} ms`,
      this.leaderDetails(),
    );
  }

  async #proposeAndWait(
    raft: RaftNodeHandle,
    bytes: Uint8Array,
    origin: Origin,
    deadline_ms: number,
  ): Promise<KvResponse> {
    const waiter = this.applier.waitFor(origin);
    try {
      // The apply settles the waiter; a failed proposal rejects first. One timer for both.
      const proposed = raft.propose(bytes);
      const applied = Promise.race([waiter.promise, proposed.then(() => waiter.promise)]);
      return await withDeadline(applied, deadline_ms);
    } catch (error) {
      waiter.cancel();
      if (error instanceof TooManyPendingError) {
        // Refused before it was proposed: etcd's exact text says a repeat is safe.
        throw etcdError("TooManyRequests", undefined, this.leaderDetails());
      }
      if (error instanceof DeadlineError) {
        throw etcdError("Timeout", error.message, this.leaderDetails());
      }
      throw error;
    }
  }

  async #waitForLeader(deadline_ms: number): Promise<void> {
    // Bounded by the deadline: one check per 20 ms.
    while (Date.now() < deadline_ms && !this.#stopping) {
      const raft = this.raft;
      if (raft.is_leader || (raft.leader !== null && this.leader_client_address)) return;
      await sleep(20);
    }
  }

  /**
   * Proposes a node command on the leader and waits until it is applied here. Throws
   * NotLeader on a follower.
   */
  async proposeNodeCommand(command: NodeCommand, deadline_ms = this.deadline()): Promise<void> {
    const raft = this.raft;
    if (!raft.is_leader) {
      throw etcdError("NotLeader", `${this.id} is not the leader`, this.leaderDetails());
    }
    try {
      const position = await withDeadline(raft.propose(encodeNodeCommand(command)), deadline_ms);
      await withDeadline(this.applier.waitApplied(position.index), deadline_ms);
    } catch (error) {
      throw this.#clusterError(error);
    }
  }

  /** Proposes a membership change on the leader and waits until it is applied here. */
  async proposeConfChange(
    type: ConfChangeType,
    node_id: string,
    deadline_ms = this.deadline(),
  ): Promise<void> {
    const raft = this.raft;
    if (!raft.is_leader) {
      throw etcdError("NotLeader", `${this.id} is not the leader`, this.leaderDetails());
    }
    const position = await withDeadline(raft.proposeConfChange({ type, node_id }), deadline_ms)
      .catch((error) => {
        throw this.#clusterError(error);
      });
    await withDeadline(this.applier.waitApplied(position.index), deadline_ms);
    await this.#refreshConfState();
  }

  #clusterError(error: unknown): Error {
    if (error instanceof DeadlineError) return etcdError("Timeout", error.message);
    if (error instanceof ProposalFailedError) {
      return new RpcError(Status.FAILED_PRECONDITION, error.message, this.leaderDetails());
    }
    return error as Error;
  }

  // ---- reads -------------------------------------------------------------------------------

  /**
   * Waits until this member has applied everything committed before the call (ReadIndex,
   * batched: concurrent readers share one round that starts after they arrived).
   */
  async linearize(deadline_ms: number = this.deadline()): Promise<void> {
    // Bounded by the deadline; a new leader refuses reads until its first commit: retry.
    for (;;) {
      this.#checkRunning();
      try {
        const index = await withDeadline(this.#readIndexRound(), deadline_ms);
        await withDeadline(this.applier.waitApplied(index), deadline_ms);
        return;
      } catch (error) {
        if (error instanceof DeadlineError) {
          throw etcdError("Timeout", error.message, this.leaderDetails());
        }
        if (!(error instanceof ProposalFailedError) && !(error instanceof TooManyPendingError)) {
          throw error;
        }
        if (Date.now() + 20 >= deadline_ms) {
          throw etcdError(
            this.leader === null ? "NoLeader" : "Timeout",
            `no read index within the deadline: ${error.message}`,
            this.leaderDetails(),
          );
        }
        await sleep(20);
      }
    }
  }

  #readIndexRound(): Promise<number> {
    if (this.#queued_read) return this.#queued_read;
    const round = (async () => {
      await this.#inflight_read?.catch(() => {});
      this.#queued_read = null;
      const read = this.raft.readIndex();
      this.#inflight_read = read;
      return await read;
    })();
    this.#queued_read = round;
    return round;
  }

  // ---- membership --------------------------------------------------------------------------

  /** A client channel to another member's client address (kept and reused). */
  peerChannel(address: string): RpcChannel {
    let channel = this.#channels.get(address);
    if (!channel) {
      if (this.#channels.size >= 64) {
        for (const old of this.#channels.values()) old.close();
        this.#channels.clear();
      }
      channel = new RpcChannel(address, { default_deadline_ms: this.config.request_timeout_ms });
      this.#channels.set(address, channel);
    }
    return channel;
  }

  /** The member records of the current members (voters and learners), by name. */
  currentMembers(): { record: MemberRecord; is_learner: boolean }[] {
    const conf = this.#conf_state;
    const ids = [...conf.voters, ...conf.learners];
    return ids.sort().map((id) => ({
      record: this.applier.members.get(id) ?? {
        id,
        raft_address: this.config.initial_cluster[id] ?? "",
        client_address: id === this.id ? this.#client_address : "",
      },
      is_learner: conf.learners.includes(id),
    }));
  }

  /** Finds the name of the current member with etcd ID `member_id`. */
  memberName(member_id: bigint): string | undefined {
    const conf = this.#conf_state;
    return [...conf.voters, ...conf.learners].find((id) => memberIdOf(id) === member_id);
  }

  /** Reads the membership from the Raft worker (after conf changes and restores). */
  async #refreshConfState(): Promise<void> {
    if (!this.#raft || this.#stopping) return;
    try {
      const status = await this.#raft.status();
      const conf = status.conf_state as ConfState | undefined;
      if (!conf) return;
      const was_member = this.#isMember(this.#conf_state);
      this.#conf_state = { voters: [...conf.voters], learners: [...conf.learners] };
      if (was_member && !this.#isMember(this.#conf_state) && !this.#removed) {
        // As etcd: a removed member stops serving requests that need the cluster.
        this.#removed = true;
        this.#options.log?.(`blueprint ${this.id}: removed from the cluster; stop this process`);
      }
    } catch {
      // Stopping: the last known membership stays.
    }
  }

  #isMember(conf: ConfState): boolean {
    return conf.voters.includes(this.id) || conf.learners.includes(this.id);
  }

  /** Raft status plus the state machine's position. */
  async status(): Promise<NodeStatus> {
    const status = await this.raft.status();
    const conf = (status.conf_state as ConfState | undefined) ?? this.#conf_state;
    return {
      id: this.id,
      leader: status.leader,
      term: status.hard_state.term,
      applied_index: this.applier.appliedIndex,
      commit_index: status.log.committed,
      revision: this.machine.revision,
      conf_state: conf,
    };
  }

  #connectPeers(): void {
    if (!this.#raft) return;
    for (const member of this.applier.members.all()) {
      if (member.id === this.id || !member.raft_address) continue;
      this.#raft.setPeer(
        member.id,
        parseHostPort(member.raft_address, `raft address of ${member.id}`),
      );
    }
  }

  async #join(): Promise<{ voters: string[]; members: MemberRecord[] }> {
    const method = methodOf(this.internal_schema.service(INTERNAL_SERVICE), "Join");
    const member = this.#ownRecord();
    let last: unknown;
    for (let attempt = 0; attempt < MAX_JOIN_ATTEMPTS && !this.#stopping; attempt++) {
      try {
        const reply = await this.peerChannel(this.config.join).unary<
          unknown,
          { voters: string[]; members: MemberRecord[] }
        >(method, { member, cluster_name: this.config.cluster_name });
        this.#options.log?.(`blueprint ${this.id}: joined through ${this.config.join}`);
        return reply;
      } catch (error) {
        last = error;
        if (error instanceof RpcError && !retriable(error)) break;
        await sleep(JOIN_RETRY_MS);
      }
    }
    throw new Error(
      `cannot join the cluster through ${this.config.join}: ${
        last instanceof Error ? last.message : String(last)
      }`,
    );
  }

  #ownRecord(): MemberRecord {
    return {
      id: this.id,
      raft_address: this.#raft ? this.raft_address : this.config.raft_address,
      client_address: this.#client_address,
    };
  }

  // ---- loops -------------------------------------------------------------------------------

  async #runApplyLoop(raft: RaftNodeHandle): Promise<void> {
    try {
      // Whatever committed while the last items were applied is applied together: a run of
      // KV entries then shares one storage write.
      for await (const items of raft.committedBatches(MAX_ITEMS_PER_APPLY)) {
        await this.applier.applyAll(items);
        if (items.some((item) => item.kind === "snapshot")) {
          // Raft holds the leader's descriptor now; serving it needs a checkpoint of our own.
          this.#needs_own_checkpoint = true;
          this.#last_snapshot_index = -Infinity;
        }
        const index = this.applier.appliedIndex;
        const every = this.config.snapshot_every_entries;
        const interval = this.#needs_own_checkpoint
          ? Math.min(OWN_CHECKPOINT_RETRY_ENTRIES, every)
          : every;
        if (
          !this.#stopping && this.#snapshotting === null &&
          index - this.#last_snapshot_index >= interval
        ) {
          this.#last_snapshot_index = index;
          // Beside the loop, one at a time. A refused snapshot only delays log compaction: a
          // later round tries again.
          this.#snapshotting = this.#snapshotTo(raft).then((taken) => {
            if (taken) this.#needs_own_checkpoint = false;
          }).finally(() => (this.#snapshotting = null));
        }
      }
    } catch (error) {
      if (this.#stopping) return;
      // The state machine cannot go on past a failed apply: stop serving rather than diverge.
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.#options.log?.(`blueprint ${this.id}: apply loop failed: ${this.#failure.message}`);
      this.applier.close(this.#failure);
      this.#report_failure(this.#failure);
    }
  }

  /**
   * Checkpoints the store at the applied index and hands Raft its descriptor as the
   * snapshot (Raft then compacts its log and prunes older checkpoints). Runs beside the apply
   * loop: the memtable is flushed first, concurrently with applies, so applies wait only for
   * the little written since. Returns whether Raft took it.
   */
  async #snapshotTo(raft: RaftNodeHandle): Promise<boolean> {
    const parent = join(this.config.data_dir, CHECKPOINTS_DIR);
    let dir = "";
    try {
      await Deno.mkdir(parent, { recursive: true });
      const started_ms = performance.now();
      await this.storage.flush();
      const checkpoint = await this.machine.checkpoint((index) =>
        dir = join(parent, newCheckpointId(index))
      );
      this.#options.log?.(
        `blueprint ${this.id}: checkpoint at ${checkpoint.applied_index}: ` +
          `${checkpoint.info.files.length} files, ${checkpoint.info.size_bytes} bytes in ` +
          `${(performance.now() - started_ms).toFixed(0)} ms`,
      );
      const descriptor = encodeDescriptor({
        checkpoint_id: basename(dir),
        applied_index: checkpoint.applied_index,
        applied_term: checkpoint.applied_term,
        files: checkpoint.info.files,
        size_bytes: checkpoint.info.size_bytes,
      });
      await raft.snapshot(checkpoint.applied_index, descriptor);
      return true;
    } catch (error) {
      this.#options.log?.(`blueprint ${this.id}: snapshot: ${(error as Error).message}`);
      // Not registered with Raft: nobody will fetch it.
      if (dir) removeDirectory(this.#store_options.fs, dir);
      return false;
    }
  }

  /** Swaps the checkpoint a received snapshot names (staged by the Raft worker) in as the store. */
  async #installSnapshot(snapshot: Snapshot): Promise<void> {
    const descriptor = decodeDescriptor(snapshot.data);
    this.#options.log?.(
      `blueprint ${this.id}: installing checkpoint ${descriptor.checkpoint_id} ` +
        `(index ${descriptor.applied_index}, ${descriptor.size_bytes} bytes)`,
    );
    await this.machine.replaceStorage((current) =>
      switchStore(this.#store_options, current, descriptor)
    );
  }

  /** Whether Raft's snapshot names no checkpoint in this member's checkpoints directory. */
  async #raftSnapshotIsForeign(raft: RaftNodeHandle): Promise<boolean> {
    const snapshot_index = Number((await raft.status()).log.first) - 1;
    if (snapshot_index <= 0) return false;
    const dir = join(this.config.data_dir, CHECKPOINTS_DIR);
    const fs = this.#store_options.fs;
    if (!fs.exists(dir)) return true;
    return !fs.list(dir).some((name) => checkpointIndexOf(name) === snapshot_index);
  }

  async #runHousekeeping(): Promise<void> {
    while (!this.#stopping) {
      await sleep(HOUSEKEEPING_INTERVAL_MS);
      if (this.#stopping || this.#failure) return;
      try {
        await this.#publishSelf();
        if (this.is_leader) {
          this.#revokeExpiredLeases();
          await this.#promoteCaughtUpLearners();
        } else await this.#promoteSelf();
      } catch (error) {
        // Retried every round: report a problem once, not five times a second.
        const message = `${error instanceof Error ? error.message : error}`;
        if (message !== this.#last_housekeeping_error) {
          this.#options.log?.(`blueprint ${this.id}: housekeeping: ${message}`);
        }
        this.#last_housekeeping_error = message;
        continue;
      }
      this.#last_housekeeping_error = "";
    }
  }

  /** Replicates this member's addresses when the member table does not have them yet. */
  async #publishSelf(): Promise<void> {
    const own = this.#ownRecord();
    const known = this.applier.members.get(this.id);
    if (known?.client_address === own.client_address && known.raft_address === own.raft_address) {
      return;
    }
    if (
      !this.#conf_state.voters.includes(this.id) && !this.#conf_state.learners.includes(this.id)
    ) {
      await this.#refreshConfState();
    }
    if (this.is_leader) {
      await this.proposeNodeCommand({ type: "member_upsert", member: own });
      return;
    }
    const address = this.leader_client_address;
    if (!address) return;
    await this.peerChannel(address).unary(
      methodOf(this.internal_schema.service(INTERNAL_SERVICE), "Publish"),
      { member: own },
    );
  }

  /**
   * A member that joined as a learner asks the leader to promote it; the leader refuses until
   * the learner has caught up, so this repeats (once per {@link PROMOTE_RETRY_MS}).
   */
  async #promoteSelf(): Promise<void> {
    if (!this.config.join || !this.#conf_state.learners.includes(this.id)) return;
    if (Date.now() - this.#last_promote_ms < PROMOTE_RETRY_MS) return;
    this.#last_promote_ms = Date.now();
    const address = this.leader_client_address;
    if (!address) return;
    try {
      await this.peerChannel(address).unary(
        methodOf(this.schema.service("etcdserverpb.Cluster"), "MemberPromote"),
        { ID: this.member_id },
      );
      this.#options.log?.(`blueprint ${this.id}: promoted to voter`);
    } catch {
      // Not caught up yet, or the leader changed: the next round retries.
    }
    await this.#refreshConfState();
  }

  /** Asks the leader to promote learner `id` once it has caught up (leader memory only). */
  promoteWhenCaughtUp(id: string): void {
    if (this.#auto_promote.size < MAX_AUTO_PROMOTE) this.#auto_promote.add(id);
  }

  /** Promotes the learners added as voters; Raft refuses until one has caught up. */
  async #promoteCaughtUpLearners(): Promise<void> {
    if (this.#auto_promote.size === 0) return;
    if (Date.now() - this.#last_promote_ms < PROMOTE_RETRY_MS) return;
    this.#last_promote_ms = Date.now();
    for (const id of [...this.#auto_promote]) {
      if (!this.#conf_state.learners.includes(id)) {
        this.#auto_promote.delete(id);
        continue;
      }
      try {
        await this.proposeConfChange(ConfChangeType.AddVoter, id);
        this.#auto_promote.delete(id);
        this.#options.log?.(`blueprint ${this.id}: promoted ${id} to voter`);
      } catch {
        // Not caught up yet: the next round retries.
      }
    }
  }

  #revokeExpiredLeases(): void {
    for (const id of this.machine.expiredLeases(Date.now())) {
      if (this.#revoking.size >= MAX_REVOKES_IN_FLIGHT) return;
      if (this.#revoking.has(id)) continue;
      this.#revoking.add(id);
      this.write({ type: "lease_revoke", id })
        .catch(() => {})
        .finally(() => this.#revoking.delete(id));
    }
  }

  #checkRunning(): void {
    if (this.#removed) {
      throw unavailable(`blueprint ${this.id} was removed from the cluster`, this.leaderDetails());
    }
    if (this.#failure) {
      throw unavailable(`blueprint ${this.id} stopped serving: ${this.#failure.message}`);
    }
    if (this.#stopping) throw etcdError("Stopped");
  }

  /** Stops serving, ends streams, stops Raft and closes the storage. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.registry.stop();
    for (const end of [...this.open_streams]) end();
    this.hub.close();
    await this.#server.shutdown(2000).catch(() => {});
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
    await this.#raft?.stop();
    await this.#apply_loop;
    await this.#snapshotting;
    await this.#housekeeping;
    this.applier.close(etcdError("Stopped"));
    this.machine.close();
    await this.storage.close();
  }
}

/** A deadline passed while waiting. */
class DeadlineError extends Error {}

function withDeadline<T>(promise: Promise<T>, deadline_ms: number): Promise<T> {
  const remaining = deadline_ms - Date.now();
  if (remaining <= 0) {
    promise.catch(() => {});
    return Promise.reject(new DeadlineError("request timed out"));
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError("request timed out")), remaining);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Whether a forwarded call may be retried (the leader changed or could not be reached). */
function retriable(error: unknown): boolean {
  if (!(error instanceof RpcError)) return false;
  if (error.code === Status.UNAVAILABLE) return true;
  return error.code === Status.FAILED_PRECONDITION && error.message.includes("not leader");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
