/**
 * The Registry gRPC service of one Blueprint member. Records live in the replicated keyspace
 * under {@link PROCESS_PREFIX} and every change goes through the node's Raft write path, so
 * every member answers Query, Get and Watch from its own state (an in-memory
 * {@link RegistryView} kept in step with the applied keyspace). Liveness uses one KV lease per
 * process that no key is attached to: a beat that changes nothing is answered at once from the
 * member's own view and only renews the lease (no Raft write) — on the leader directly, on a
 * follower through a {@link LeaseRenewer} that tells the leader which leases were beaten once
 * per {@link RENEW_INTERVAL_MS}. When the leader revokes an expired lease, its housekeeping
 * marks the record lost, and removes it after the grace period.
 *
 * @module
 */
import type { KeyValue, RequestBody } from "../kv/mod.ts";
import {
  type ClusterDetails,
  type FinalizeRequest,
  type GetRequest,
  HealthState,
  type InitializeRequest,
  type QueryRequest,
  REGISTRY_PEER_SERVICE,
  REGISTRY_SERVICE,
  type RegistryEvent,
  RegistryEventType,
  type RegistryWatchRequest,
  type RegistryWatchResponse,
  type SyncMessage,
} from "../../shared/proto/draft/mod.ts";
import { methodOf, type ProtoSchema } from "../../shared/proto/mod.ts";
import {
  type DuplexCall,
  duplexHandler,
  type DuplexListener,
  invalidArgument,
  notFound,
  resourceExhausted,
  type RpcChannel,
  RpcError,
  type RpcServer,
  Status,
  unavailable,
} from "../../shared/rpc/mod.ts";
import type { grpc } from "../../deps.ts";
import {
  applyBeat,
  type BeatUpdate,
  checkAddress,
  checkLabels,
  checkName,
  checkStates,
  checkTtl,
  decodeStored,
  encodeStored,
  JOIN_TOKEN_KEY,
  matchesQuery,
  newProcessId,
  PROCESS_PREFIX,
  processKey,
  SECRET_KEY,
  type StoredProcess,
  toWire,
} from "./process_record.ts";
import { KeepAliveBatcher } from "./keep_alive_batcher.ts";
import { LeaseRenewer, MAX_BATCH_LEASES } from "./lease_renewer.ts";
import { MAX_VIEW_RECORDS, RegistryView, type ViewEntry, type ViewEvent } from "./registry_view.ts";
import { AckEncoder, type AckFields } from "./ack_encoder.ts";
import { CLUSTER_SECRET_SIZE_BYTES, hmacKey, signToken, TokenError, verifyToken } from "./token.ts";

/** What the registry needs of its Blueprint member (BlueprintNode satisfies it). */
export interface RegistryHost {
  /** Member name. */
  readonly id: string;
  /** Cluster id. */
  readonly cluster_id: bigint;
  /** Whether this member leads. */
  readonly is_leader: boolean;
  /** Leader name or null. */
  readonly leader: string | null;
  /** Leader client address or "". */
  readonly leader_client_address: string;
  /** The state machine (local reads, leases). */
  readonly machine: {
    readonly revision: number;
    range(key: Uint8Array, range_end?: Uint8Array, options?: { limit?: number }): {
      kvs: KeyValue[];
      more: boolean;
    };
    keepAliveLease(id: number, now_ms: number): number;
    leases(): { id: number; ttl_s: number }[];
    addListener(listener: {
      applied(revision: number, events: readonly ViewEvent[]): void;
      restored(): void;
    }): () => void;
  };
  /** The watch hub. */
  readonly hub: {
    watch(request: { key: Uint8Array; range_end?: Uint8Array; start_revision?: number }): {
      next(): Promise<
        | { type: "events"; events: { revision: number; event: { type: string; kv: KeyValue } }[] }
        | { type: "cancelled"; reason: string; compact_revision?: number }
      >;
      cancel(): void;
    };
  };
  /** Streams to end at shutdown. */
  readonly open_streams: Set<() => void>;
  /** A replicated write. */
  write(body: RequestBody): Promise<{ revision: number; body: { type: string } }>;
  /** Waits until this member has applied everything committed before the call. */
  linearize(): Promise<void>;
  /** Current members. */
  currentMembers(): {
    record: { id: string; client_address: string };
    is_learner: boolean;
  }[];
  /** A channel to another member. */
  peerChannel(address: string): RpcChannel;
}

/** Options of {@link RegistryService}. */
export interface RegistryOptions {
  /** Join token to store at bootstrap; "" = generate one. */
  join_token: string;
  /** How long a lost record stays before removal, in ms. */
  lost_grace_ms: number;
  /** Housekeeping period, in ms. */
  housekeeping_interval_ms?: number;
  /** The etcd member id of a member name (as the Cluster API shows it). */
  member_id_of: (name: string) => bigint;
}

/** Most records one Query returns. */
export const MAX_QUERY_RESULTS = 10_000;
/** Most records housekeeping looks at per round. */
export const MAX_SCAN_RECORDS = 20_000;
/** How often a follower tells the leader which process leases were beaten, in ms. */
export const RENEW_INTERVAL_MS = 250;
/** Most housekeeping writes per round. */
export const MAX_WRITES_PER_ROUND = 256;
/** Most unanswered messages one Synchronize stream may queue. */
export const MAX_PENDING_SYNC_MESSAGES = 64;
/**
 * How long Initialize waits, at most, for every member to have published its client address
 * (members publish it through Raft just after the cluster forms), in ms. The first details a
 * process gets then name every member it could fail over to; past the bound it goes on anyway.
 */
export const ADDRESSES_WAIT_MS = 3000;
/** How often Initialize looks again for the missing addresses, in ms. */
const ADDRESSES_POLL_MS = 50;
/** Tries of a compare-and-put on a record that others are changing too. */
const MAX_CAS_ATTEMPTS = 5;
/** Housekeeping scans every record at least this often, in ms, even when nothing hints. */
const FULL_SCAN_INTERVAL_MS = 2000;

const encoder = new TextEncoder();
/** The tail of a Synchronize stream with no message in flight. */
const IDLE: Promise<void> = Promise.resolve();
const decoder = new TextDecoder();

/** UNAUTHENTICATED with `message`. */
export function unauthenticated(message: string): RpcError {
  return new RpcError(Status.UNAUTHENTICATED, message);
}

/** The end of the prefix range starting at `prefix`. */
function prefixEnd(prefix: string): Uint8Array {
  const bytes = encoder.encode(prefix);
  bytes[bytes.length - 1]++;
  return bytes;
}

/**
 * One member's registry: handlers plus the leader's liveness housekeeping.
 *
 * @example
 * ```ts
 * const registry = new RegistryService(node, { join_token: "", lost_grace_ms: 30_000, member_id_of: memberIdOf });
 * registry.addTo(server, await loadRegistrySchema());
 * registry.start();
 * ```
 */
export class RegistryService {
  readonly #host: RegistryHost;
  readonly #options: RegistryOptions;
  #key: CryptoKey | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #in_flight = new Set<string>();
  #schema: ProtoSchema | undefined;
  readonly #batcher = new KeepAliveBatcher((ids) => this.#sendKeepAlives(ids));
  readonly #renewer = new LeaseRenewer();
  readonly #view = new RegistryView();
  readonly #unsubscribe: () => void;
  #acks: AckEncoder | undefined;
  #renew_timer: ReturnType<typeof setInterval> | undefined;
  #scan_state = { lease_count: -1, lost: 0, at_ms: 0 };

  /**
   * Makes the service for `host`.
   *
   * @param host the member
   * @param options join token and grace period
   */
  constructor(host: RegistryHost, options: RegistryOptions) {
    this.#host = host;
    this.#options = options;
    // Subscribed before the scan: an apply that finishes later reaches the view as events.
    this.#unsubscribe = host.machine.addListener({
      applied: (_revision, events) => this.#view.apply(events),
      restored: () => this.#loadView(),
    });
    this.#loadView();
  }

  #loadView(): void {
    const { kvs, more } = this.#host.machine.range(
      encoder.encode(PROCESS_PREFIX),
      prefixEnd(PROCESS_PREFIX),
      { limit: MAX_VIEW_RECORDS },
    );
    if (more) throw new RangeError(`more than ${MAX_VIEW_RECORDS} registry records`);
    this.#view.load(kvs);
  }

  /** The cluster id as hex. */
  get cluster_id(): string {
    return this.#host.cluster_id.toString(16);
  }

  /** The stored join token, or "" before the first leader stored it. */
  joinToken(): string {
    const kv = this.#host.machine.range(encoder.encode(JOIN_TOKEN_KEY)).kvs[0];
    return kv ? decoder.decode(kv.value) : "";
  }

  /** Registers the handlers on `server` (before it listens). */
  addTo(server: RpcServer, schema: ProtoSchema): void {
    this.#schema = schema;
    this.#acks = new AckEncoder(
      methodOf(schema.service(REGISTRY_SERVICE), "Synchronize")
        .response_codec as unknown as ConstructorParameters<typeof AckEncoder>[0],
    );
    server.addService(schema, REGISTRY_PEER_SERVICE, {
      KeepAliveBatch: (request: { lease_ids?: bigint[] }) => this.#keepAliveBatch(request),
    });
    server.addService(schema, REGISTRY_SERVICE, {
      Initialize: (request: InitializeRequest) => this.initialize(request),
      Synchronize: duplexHandler((call: DuplexCall<unknown>) => this.#synchronize(call)),
      Finalize: (request: FinalizeRequest) => this.finalize(request),
      Query: (request: QueryRequest) => this.query(request),
      Get: (request: GetRequest) => this.get(request),
      Watch: (
        request: RegistryWatchRequest,
        call: grpc.ServerWritableStream<RegistryWatchRequest, unknown>,
      ) => this.#watch(request, call),
    });
  }

  /** Starts the housekeeping loop (acts only while this member leads). */
  start(): void {
    const interval = this.#options.housekeeping_interval_ms ?? 250;
    const round = async () => {
      if (this.#stopped) return;
      try {
        if (this.#host.is_leader) await this.housekeeping(Date.now());
      } catch {
        // Retried next round (leader change, shutdown).
      }
      if (!this.#stopped) this.#timer = setTimeout(round, interval);
    };
    this.#timer = setTimeout(round, interval);
    this.#renew_timer = setInterval(() => {
      this.renewBeatenLeases().catch(() => {
        // The leases wait for the next interval (no leader, leader change, shutdown).
      });
    }, RENEW_INTERVAL_MS);
  }

  /** Stops the housekeeping and renewal loops. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#renew_timer);
    this.#unsubscribe();
  }

  /**
   * Renews the leases beaten on this member since the last call: with the leader in batches
   * from a follower, directly on the leader (leases beaten while this member followed).
   * Resolves with how many were renewed.
   */
  renewBeatenLeases(): Promise<number> {
    if (this.#host.is_leader) {
      return this.#renewer.flush((ids) => Promise.resolve(this.#renewLocally(ids)));
    }
    return this.#renewer.flush((ids) => this.#sendKeepAlives(ids));
  }

  /** Restarts the TTL of each lease on this (leading) member: its TTL, or 0 when gone. */
  #renewLocally(lease_ids: readonly (number | bigint)[]): number[] {
    const now_ms = Date.now();
    return lease_ids.map((id) => {
      try {
        return this.#host.machine.keepAliveLease(Number(id), now_ms);
      } catch {
        return 0;
      }
    });
  }

  // ---- Initialize / Finalize ------------------------------------------------------------

  /** Validates the nonce and creates the process identity and record. */
  async initialize(request: InitializeRequest) {
    const name = checkName(request.name);
    const metadata = checkLabels(request.metadata);
    const advertise_address = checkAddress(request.advertise_address);
    const ttl_ms = checkTtl(request.ttl_ms);
    if (this.#view.size >= MAX_VIEW_RECORDS) {
      throw resourceExhausted(
        `the registry holds ${MAX_VIEW_RECORDS} processes, its limit; finalize some first`,
      );
    }
    if (this.joinToken() === "") await this.bootstrap();
    const join_token = this.joinToken();
    if (join_token === "") throw unavailable("the registry is still bootstrapping; retry shortly");
    if (!constantTimeEqual(request.nonce ?? "", join_token)) {
      throw unauthenticated("the nonce does not match this cluster's join token");
    }
    const key = await this.#signingKey();
    await this.#waitForMemberAddresses(Date.now() + ADDRESSES_WAIT_MS);
    const process_id = newProcessId();
    const now_ms = Date.now();
    const lease = await this.#host.write({ type: "lease_grant", id: 0, ttl_s: ttlSeconds(ttl_ms) });
    const lease_id = (lease.body as { id?: number }).id;
    if (lease.body.type !== "lease_grant" || !lease_id) throw unavailable("lease grant failed");
    const record: StoredProcess = {
      process_id,
      name,
      running_state: 1,
      health_state: HealthState.HEALTHY,
      advertise_address,
      metadata,
      ttl_ms,
      lease_id,
      registered_at_ms: now_ms,
      updated_at_ms: now_ms,
      lost_at_ms: 0,
    };
    const response = await this.#host.write({
      type: "put",
      key: encoder.encode(processKey(process_id)),
      value: encodeStored(record),
    });
    const token = await signToken(key, {
      process_id,
      cluster_id: this.cluster_id,
      issued_at_ms: now_ms,
    });
    return {
      process_id,
      token,
      ttl_ms,
      cluster: this.clusterDetails(),
      process: toWire(record, response.revision, response.revision),
    };
  }

  /** Removes the process (its token is revoked with it). */
  async finalize(request: FinalizeRequest) {
    const { process_id } = await this.#authenticate(request.token);
    const stored = await this.#entry(process_id);
    const response = await this.#host.write({
      type: "txn",
      compare: [],
      success: [
        { type: "delete_range", key: encoder.encode(processKey(process_id)) },
      ],
      failure: [],
    });
    // The lease has no keys; revoking it only saves the leader a scan. Best effort.
    this.#host.write({ type: "lease_revoke", id: stored.record.lease_id }).catch(() => {});
    return { revision: BigInt(response.revision) };
  }

  // ---- Synchronize ------------------------------------------------------------------------

  #synchronize(call: DuplexCall<unknown>): DuplexListener<SyncMessage> {
    let ended = false;
    let pending = 0;
    let bound: string | undefined;
    let bound_token = "";
    const end = (error?: RpcError) => {
      if (ended) return;
      ended = true;
      this.#host.open_streams.delete(end);
      if (error) call.fail(error);
      else call.end();
    };
    this.#host.open_streams.add(end);
    // Messages are answered in order: each waits for the one before. An idle stream keeps no
    // promise of its own (one per beat would live until the next and outlive a young-generation
    // GC, thousands of them per second).
    let tail: Promise<void> = IDLE;
    const message = (message: SyncMessage) => {
      if (++pending > MAX_PENDING_SYNC_MESSAGES) {
        end(resourceExhausted(`more than ${MAX_PENDING_SYNC_MESSAGES} unanswered messages`));
        return;
      }
      const answer = async () => {
        if (ended) return;
        const token = message.token ?? "";
        if (bound === undefined || (token !== "" && token !== bound_token)) {
          bound = (await this.#authenticate(token)).process_id;
          bound_token = token;
        }
        const fields = await this.#beat(bound, message);
        if (!ended) call.write(this.#encodeAck(fields));
      };
      tail = (tail === IDLE ? answer() : tail.then(answer))
        .catch((error) => end(error instanceof RpcError ? error : toRpc(error)))
        .finally(() => {
          if (--pending === 0) tail = IDLE;
        });
    };
    return { message, end: () => end(), cancel: () => end() };
  }

  /**
   * Applies one beat of process `process_id` and answers its ack. A beat that changes nothing
   * is answered from this member's view at once; only a change (or a lease found gone) waits
   * for Raft.
   */
  async beat(process_id: string, message: SyncMessage) {
    return { ...await this.#beat(process_id, message), cluster: this.clusterDetails() };
  }

  /** {@link RegistryService.beat} without the cluster details (the stream encodes them once). */
  async #beat(process_id: string, message: SyncMessage): Promise<AckFields> {
    checkStates(message.running_state, message.health_state);
    const advertise_address = checkAddress(message.advertise_address);
    const metadata = message.replace_metadata ? checkLabels(message.metadata) : undefined;
    const beat: BeatUpdate = {
      running_state: message.running_state!,
      health_state: message.health_state!,
      advertise_address,
      metadata,
    };
    const entry = this.#view.get(process_id) ?? await this.#entry(process_id);
    const quick = applyBeat(entry.record, beat, Date.now()) === null &&
      this.#renewQuickly(entry.record.lease_id);
    const { record, written } = quick
      ? { record: entry.record, written: false }
      : await this.#applySlowly(process_id, beat);
    return {
      sequence: message.sequence ?? 0n,
      process_id,
      changed: written,
      ttl_ms: record.ttl_ms,
    };
  }

  /**
   * The view's entry of `process_id`. When the view has none, this member may only be behind
   * (the process initialized through another member a moment ago): it catches up with the
   * leader's commit index first, and only then answers UNAUTHENTICATED (revoked).
   */
  async #entry(process_id: string): Promise<ViewEntry> {
    let entry = this.#view.get(process_id);
    if (!entry) {
      await this.#host.linearize();
      entry = this.#view.get(process_id);
    }
    if (!entry) {
      throw unauthenticated(
        `the token of ${process_id} was revoked (finalized, or removed after it was lost); initialize again`,
      );
    }
    return entry;
  }

  /**
   * Renews a lease without waiting: on the leader directly; on a follower by noting the beat
   * for the next batch, unless the leader already reported the lease gone. False when the
   * beat needs the slow path.
   */
  #renewQuickly(lease_id: number): boolean {
    if (this.#host.is_leader) return this.#renewLocally([lease_id])[0] > 0;
    if (this.#renewer.isGone(lease_id)) return false;
    this.#renewer.touch(lease_id);
    return true;
  }

  /** Writes the beat's change (or a new lease) through Raft; answers the record as it is now. */
  async #applySlowly(
    process_id: string,
    beat: BeatUpdate,
  ): Promise<{ record: StoredProcess; written: boolean }> {
    for (let attempt = 0;; attempt++) {
      const entry = await this.#entry(process_id);
      let next = applyBeat(entry.record, beat, Date.now());
      if (next === null) {
        if (await this.#keepAlive(entry.record.lease_id) > 0) {
          return { record: entry.record, written: false };
        }
        // The lease expired: a new one, and the record says alive again.
        next = { ...entry.record, lost_at_ms: 0, updated_at_ms: Date.now() };
      }
      if (!(await this.#leaseAlive(next.lease_id))) {
        const lease = await this.#host.write({
          type: "lease_grant",
          id: 0,
          ttl_s: ttlSeconds(next.ttl_ms),
        });
        this.#renewer.forget(next.lease_id);
        next = { ...next, lease_id: (lease.body as { id?: number }).id ?? 0 };
      }
      const revision = await this.#compareAndPut(next, entry.mod_revision);
      if (revision > 0) {
        // A follower applies the write a moment after the leader answered: the next beat
        // must see it, or it would write again from the old record.
        if ((this.#view.get(process_id)?.mod_revision ?? 0) < revision) {
          await this.#host.linearize();
        }
        return { record: next, written: true };
      }
      if (attempt + 1 >= MAX_CAS_ATTEMPTS) {
        throw unavailable(`record ${process_id} kept changing; retry the message`);
      }
    }
  }

  /** The ack's bytes: its own fields, then the cluster details encoded once per change. */
  #encodeAck(fields: AckFields): Uint8Array {
    return this.#acks!.encode(fields, this.#detailsKey(), () => this.clusterDetails());
  }

  async #leaseAlive(lease_id: number): Promise<boolean> {
    return lease_id > 0 && await this.#keepAlive(lease_id) > 0;
  }

  /** Renews a lease on the leader (batched from a follower); 0 when it is gone. */
  #keepAlive(lease_id: number): Promise<number> {
    if (!this.#host.is_leader) return this.#batcher.renew(lease_id);
    try {
      return Promise.resolve(this.#host.machine.keepAliveLease(lease_id, Date.now()));
    } catch {
      return Promise.resolve(0);
    }
  }

  async #sendKeepAlives(lease_ids: number[]): Promise<number[]> {
    const address = this.#host.leader_client_address;
    if (!address || !this.#schema) {
      throw unavailable("no leader to renew the process's lease; retry shortly");
    }
    const reply = await this.#host.peerChannel(address).unary<unknown, { ttl_s?: bigint[] }>(
      methodOf(this.#schema.service(REGISTRY_PEER_SERVICE), "KeepAliveBatch"),
      { lease_ids: lease_ids.map(BigInt) },
    );
    return (reply.ttl_s ?? []).map(Number);
  }

  /** The leader's side of {@link KeepAliveBatcher}: renews each lease, 0 for gone ones. */
  #keepAliveBatch(request: { lease_ids?: bigint[] }) {
    const ids = request.lease_ids ?? [];
    if (ids.length > MAX_BATCH_LEASES) {
      throw invalidArgument(`${ids.length} leases in one batch; at most ${MAX_BATCH_LEASES}`);
    }
    if (!this.#host.is_leader) {
      throw unavailable(`${this.#host.id} is not the leader; renew leases with the leader`);
    }
    const ttl_s = this.#renewLocally(ids).map(BigInt);
    return { ttl_s };
  }

  /** Puts `next` if its key is still at `mod_revision`; answers the write's revision, else 0. */
  async #compareAndPut(next: StoredProcess, mod_revision: number): Promise<number> {
    const key = encoder.encode(processKey(next.process_id));
    const response = await this.#host.write({
      type: "txn",
      compare: [{ key, target: "mod_revision", operator: "=", operand: mod_revision }],
      success: [{ type: "put", key, value: encodeStored(next) }],
      failure: [],
    });
    return (response.body as { succeeded?: boolean }).succeeded === true ? response.revision : 0;
  }

  // ---- Query / Get / Watch ----------------------------------------------------------------

  /** Records matching every filter, by process id. */
  async query(request: QueryRequest) {
    const labels = checkLabels(request.labels, "labels");
    const limit = request.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) throw invalidArgument(`limit is ${limit}; >= 0`);
    const cap = limit === 0 ? MAX_QUERY_RESULTS : Math.min(limit, MAX_QUERY_RESULTS);
    await this.#host.linearize();
    const revision = this.#host.machine.revision;
    const processes = [];
    let more = false;
    for (const process_id of this.#view.sortedIds()) {
      const { record, create_revision, mod_revision } = this.#view.get(process_id)!;
      if (!matchesQuery(record, { ...request, labels })) continue;
      if (processes.length >= cap) {
        more = true;
        break;
      }
      processes.push(toWire(record, create_revision, mod_revision));
    }
    return { processes, revision: BigInt(revision), more };
  }

  /** One record; NOT_FOUND when there is none. */
  async get(request: GetRequest) {
    const process_id = request.process_id ?? "";
    if (!/^[0-9a-f]{1,64}$/.test(process_id)) {
      throw invalidArgument(`process_id is ${JSON.stringify(process_id)}; expected hex`);
    }
    await this.#host.linearize();
    const stored = this.#view.get(process_id);
    if (!stored) throw notFound(`no process ${process_id} in the registry`);
    return {
      process: toWire(stored.record, stored.create_revision, stored.mod_revision),
      revision: BigInt(this.#host.machine.revision),
    };
  }

  /** Streams registry changes; resolves when the stream is over (the server then ends it). */
  async #watch(
    request: RegistryWatchRequest,
    call: grpc.ServerWritableStream<RegistryWatchRequest, unknown>,
  ): Promise<void> {
    const start = Number(request.start_revision ?? 0n);
    if (!Number.isSafeInteger(start) || start < 0) {
      throw invalidArgument(`start_revision is ${start}; allowed: >= 0`);
    }
    const watcher = this.#host.hub.watch({
      key: encoder.encode(PROCESS_PREFIX),
      range_end: prefixEnd(PROCESS_PREFIX),
      start_revision: start,
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#host.open_streams.delete(end);
      watcher.cancel();
    };
    this.#host.open_streams.add(end);
    call.on("cancelled", end);
    call.on("error", end);
    const send = (response: RegistryWatchResponse) => {
      if (!ended) call.write(response);
    };
    send({ created: true, revision: BigInt(this.#host.machine.revision) });
    try {
      // Bounded by the watcher: each turn delivers events or ends with its cancellation.
      while (!ended) {
        const result = await watcher.next();
        if (result.type === "cancelled") {
          const compacted = result.compact_revision !== undefined;
          send({ compacted, compact_revision: BigInt(result.compact_revision ?? 0) });
          return;
        }
        const events = result.events.map(({ revision, event }) => registryEvent(revision, event));
        const last = result.events.at(-1)?.revision ?? this.#host.machine.revision;
        send({ events, revision: BigInt(last) });
      }
    } finally {
      end();
    }
  }

  // ---- cluster details ----------------------------------------------------------------------

  /** Waits until every current member has a client address, or until `deadline_ms`. */
  async #waitForMemberAddresses(deadline_ms: number): Promise<void> {
    // Bounded by the deadline: one look per poll interval.
    while (membersWithoutAddress(this.#host.currentMembers()).length > 0) {
      if (Date.now() >= deadline_ms || this.#stopped) return;
      await new Promise((resolve) => setTimeout(resolve, ADDRESSES_POLL_MS));
    }
  }

  /** The members, leader and core services, as of this member's applied state. */
  clusterDetails(): ClusterDetails {
    const host = this.#host;
    const leader = host.leader;
    const members = host.currentMembers().map(({ record, is_learner }) => ({
      id: this.#options.member_id_of(record.id).toString(16),
      name: record.id,
      client_urls: record.client_address ? [`http://${record.client_address}`] : [],
      is_leader: record.id === leader,
      is_learner,
    }));
    const details: ClusterDetails = {
      cluster_id: this.cluster_id,
      members,
      leader_id: leader === null ? "" : this.#options.member_id_of(leader).toString(16),
      leader_address: host.leader_client_address ? `http://${host.leader_client_address}` : "",
      core_services: [...this.#view.core_services],
      revision: BigInt(host.machine.revision),
    };
    return details;
  }

  /** Changes whenever {@link RegistryService.clusterDetails} would answer something else. */
  #detailsKey(): string {
    const host = this.#host;
    let key = `${host.leader}|${host.leader_client_address}|${this.#view.core_version}|` +
      `${host.machine.revision}`;
    for (const { record, is_learner } of host.currentMembers()) {
      key += `|${record.id}=${record.client_address}${is_learner ? "~" : ""}`;
    }
    return key;
  }

  // ---- housekeeping ---------------------------------------------------------------------

  /**
   * Leader duty, once per round: store the secret and join token if missing, mark records
   * whose lease is gone as lost, and remove records lost longer than the grace period.
   */
  async housekeeping(now_ms: number): Promise<void> {
    // The first leader stores the join token (configured, else generated) at once, so an
    // operator can read it from `cluster status` before any process registers.
    await this.bootstrap();
    const leases = this.#host.machine.leases();
    const due = leases.length !== this.#scan_state.lease_count || this.#scan_state.lost > 0 ||
      now_ms - this.#scan_state.at_ms >= FULL_SCAN_INTERVAL_MS;
    if (!due) return;
    this.#scan_state = { lease_count: leases.length, lost: 0, at_ms: now_ms };
    const live = new Set(leases.map((lease) => lease.id));
    const writes: Promise<unknown>[] = [];
    let looked_at = 0;
    for (const { record, mod_revision } of this.#view.entries()) {
      if (writes.length >= MAX_WRITES_PER_ROUND || ++looked_at > MAX_SCAN_RECORDS) break;
      if (record.lost_at_ms > 0) this.#scan_state.lost++;
      if (this.#in_flight.has(record.process_id)) continue;
      let write: Promise<unknown> | undefined;
      if (record.lost_at_ms === 0 && !live.has(record.lease_id)) {
        const lost = {
          ...record,
          health_state: HealthState.UNKNOWN,
          lost_at_ms: now_ms,
          updated_at_ms: now_ms,
        };
        write = this.#compareAndPut(lost, mod_revision);
      } else if (
        record.lost_at_ms > 0 && now_ms - record.lost_at_ms >= this.#options.lost_grace_ms
      ) {
        const key = encoder.encode(processKey(record.process_id));
        write = this.#host.write({
          type: "txn",
          compare: [{ key, target: "mod_revision", operator: "=", operand: mod_revision }],
          success: [{ type: "delete_range", key }],
          failure: [],
        });
      }
      if (!write) continue;
      this.#in_flight.add(record.process_id);
      writes.push(write.finally(() => this.#in_flight.delete(record.process_id)));
    }
    await Promise.allSettled(writes);
  }

  /**
   * Stores the cluster secret and the join token (configured, else generated) unless they
   * exist: put-if-absent through Raft, so the first writer wins and every member agrees.
   */
  async bootstrap(): Promise<void> {
    if (this.joinToken() !== "" && this.#readSecret()) return;
    const secret = hex(crypto.getRandomValues(new Uint8Array(CLUSTER_SECRET_SIZE_BYTES)));
    const join_token = this.#options.join_token || hex(crypto.getRandomValues(new Uint8Array(16)));
    const put_if_absent = (key: string, value: string): RequestBody => ({
      type: "txn",
      compare: [{ key: encoder.encode(key), target: "create_revision", operator: "=", operand: 0 }],
      success: [{ type: "put", key: encoder.encode(key), value: encoder.encode(value) }],
      failure: [],
    });
    await this.#host.write(put_if_absent(SECRET_KEY, secret));
    await this.#host.write(put_if_absent(JOIN_TOKEN_KEY, join_token));
  }

  // ---- helpers ------------------------------------------------------------------------------

  #readSecret(): Uint8Array | undefined {
    const kv = this.#host.machine.range(encoder.encode(SECRET_KEY)).kvs[0];
    if (!kv) return undefined;
    const text = decoder.decode(kv.value);
    return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
  }

  async #signingKey(): Promise<CryptoKey> {
    if (this.#key) return this.#key;
    const secret = this.#readSecret();
    if (!secret) throw unavailable("the registry is still bootstrapping; retry shortly");
    this.#key = await hmacKey(secret);
    return this.#key;
  }

  async #authenticate(token: string | undefined): Promise<{ process_id: string }> {
    try {
      return await verifyToken(await this.#signingKey(), token ?? "", this.cluster_id);
    } catch (error) {
      if (error instanceof TokenError) throw unauthenticated(error.message);
      throw error;
    }
  }
}

/** The names of the members whose client address is not known yet. */
export function membersWithoutAddress(
  members: readonly { record: { id: string; client_address: string } }[],
): string[] {
  return members.filter(({ record }) => record.client_address === "").map(({ record }) =>
    record.id
  );
}

/** A KV event under the process prefix as a registry event. */
function registryEvent(revision: number, event: { type: string; kv: KeyValue }): RegistryEvent {
  const process_id = decoder.decode(event.kv.key).slice(PROCESS_PREFIX.length);
  if (event.type === "delete") {
    return { type: RegistryEventType.DELETE, process_id, revision: BigInt(revision) };
  }
  const record = decodeStored(event.kv.value);
  return {
    type: RegistryEventType.PUT,
    process_id,
    process: toWire(record, event.kv.create_revision, event.kv.mod_revision),
    revision: BigInt(revision),
  };
}

function ttlSeconds(ttl_ms: number): number {
  return Math.max(1, Math.ceil(ttl_ms / 1000));
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  let difference = left.length ^ right.length;
  for (let i = 0; i < left.length; i++) difference |= left[i] ^ (right[i % right.length] ?? 0);
  return difference === 0;
}

function toRpc(error: unknown): RpcError {
  return new RpcError(Status.INTERNAL, error instanceof Error ? error.message : String(error));
}
