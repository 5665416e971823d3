/**
 * The Blueprint client: etcd's v3 API (KV, Watch, Lease, Cluster, Maintenance) over gRPC,
 * with several endpoints, failover, the leader hint from each response header, deadlines, and
 * retries only where they are safe (see `retry_policy.ts`).
 *
 * @module
 */
import {
  CompareResult,
  CompareTarget,
  type DeleteRangeResponse,
  type Encodable,
  ETCD_SERVICES,
  loadEtcdSchema,
  type MethodSchema,
  type ProtoSchema,
  type PutResponse,
  type RangeResponse,
  type ResponseHeader,
  type TxnRequest,
  type TxnResponse,
} from "../../shared/proto/mod.ts";
import { RpcChannel } from "../../shared/rpc/mod.ts";
import { asRpcError, ClientError } from "./client_error.ts";
import { EndpointList, normalizeEndpoint } from "./endpoint_list.ts";
import { type Bytes, rangeEndFor, toBytes } from "./key_bytes.ts";
import { LeaseKeepAlive } from "./lease_keep_alive.ts";
import { backoffMs, type CallKind, decideRetry } from "./retry_policy.ts";
import type {
  LeaseGrantResponse,
  LeaseTimeToLiveResponse,
  Member,
  MemberAddResponse,
  MemberListResponse,
  StatusResponse,
} from "./types.ts";
import { type WatchOptions, WatchStream } from "./watch_stream.ts";

/** Options of {@link BlueprintClient.connect}. Only `endpoints` is required. */
export interface ClientOptions {
  /** Servers, `host:port` (or a comma-separated string); the first is tried first. */
  readonly endpoints: string | readonly string[];
  /** Deadline of a whole call including retries, in ms. 10 s. */
  readonly deadline_ms?: number;
  /** Deadline of one attempt, in ms, so a hung server does not use the whole call. 3 s. */
  readonly attempt_timeout_ms?: number;
  /** Most attempts of one call. 6. */
  readonly max_attempts?: number;
  /** First pause between attempts, in ms (doubles up to 1 s). 25. */
  readonly backoff_base_ms?: number;
  /** Follow the leader address in response headers (Blueprint sends it). true. */
  readonly follow_leader_hint?: boolean;
}

/** Options of a range read ({@link BlueprintClient.get}). */
export interface GetOptions {
  /** Every key with this prefix (the key is the prefix). */
  readonly prefix?: boolean;
  /** End of `[key, range_end)` instead of one key. */
  readonly range_end?: Bytes;
  /** Most keys returned (0: no limit). */
  readonly limit?: number;
  /** Read at this revision (0: newest). */
  readonly revision?: bigint | number;
  /** A member-local read instead of a linearizable one. */
  readonly serializable?: boolean;
  /** Keys without values. */
  readonly keys_only?: boolean;
  /** Only the count. */
  readonly count_only?: boolean;
  /** This call's deadline in ms. */
  readonly deadline_ms?: number;
}

/** Options of {@link BlueprintClient.put}. */
export interface PutOptions {
  /** Attach the key to this lease. */
  readonly lease?: bigint;
  /** Return the previous pair. */
  readonly prev_kv?: boolean;
  /** This call's deadline in ms. */
  readonly deadline_ms?: number;
}

/** Options of {@link BlueprintClient.delete}. */
export interface DeleteOptions {
  /** Every key with this prefix. */
  readonly prefix?: boolean;
  /** End of `[key, range_end)` instead of one key. */
  readonly range_end?: Bytes;
  /** Return the deleted pairs. */
  readonly prev_kv?: boolean;
  /** This call's deadline in ms. */
  readonly deadline_ms?: number;
}

/** Per-call options of the calls that take nothing else. */
export interface CallOptions {
  /** This call's deadline in ms. */
  readonly deadline_ms?: number;
}

/** A member's status, with the endpoint that answered. */
export interface EndpointStatus extends StatusResponse {
  /** The endpoint asked. */
  readonly endpoint: string;
}

/** The leader as found by {@link BlueprintClient.findLeader}. */
export interface LeaderInfo {
  /** The leader's member ID. */
  readonly member_id: bigint;
  /** The leader's client address, `host:port`. */
  readonly endpoint: string;
}

const DEFAULTS = {
  deadline_ms: 10_000,
  attempt_timeout_ms: 3_000,
  max_attempts: 6,
  backoff_base_ms: 25,
  backoff_max_ms: 1_000,
};

/** The most attempts a client may be configured to make per call. */
export const MAX_ATTEMPTS = 50;

interface Methods {
  readonly [name: string]: MethodSchema;
}

/**
 * A client of a Blueprint (or etcd v3) cluster.
 *
 * @example
 * ```ts
 * const client = await BlueprintClient.connect({ endpoints: "127.0.0.1:2221,127.0.0.1:2222" });
 * await client.put("greeting", "hello");
 * const { kvs } = await client.get("greeting");
 * client.close();
 * ```
 */
export class BlueprintClient {
  readonly #schema: ProtoSchema;
  readonly #endpoints: EndpointList;
  readonly #channels = new Map<string, RpcChannel>();
  readonly #options: Required<Omit<ClientOptions, "endpoints">>;
  readonly #methods: Methods;
  readonly #closers = new Set<{ close(): void }>();
  #closed = false;

  private constructor(schema: ProtoSchema, options: ClientOptions) {
    this.#schema = schema;
    this.#endpoints = new EndpointList(
      typeof options.endpoints === "string" ? options.endpoints.split(",") : options.endpoints,
    );
    this.#options = {
      deadline_ms: positive("deadline_ms", options.deadline_ms ?? DEFAULTS.deadline_ms),
      attempt_timeout_ms: positive(
        "attempt_timeout_ms",
        options.attempt_timeout_ms ?? DEFAULTS.attempt_timeout_ms,
      ),
      max_attempts: positive("max_attempts", options.max_attempts ?? DEFAULTS.max_attempts),
      backoff_base_ms: positive(
        "backoff_base_ms",
        options.backoff_base_ms ?? DEFAULTS.backoff_base_ms,
      ),
      follow_leader_hint: options.follow_leader_hint ?? true,
    };
    if (this.#options.max_attempts > MAX_ATTEMPTS) {
      throw new RangeError(
        `max_attempts is ${this.#options.max_attempts}; allowed: 1 to ${MAX_ATTEMPTS}`,
      );
    }
    const methods: Record<string, MethodSchema> = {};
    for (const service of Object.values(ETCD_SERVICES)) {
      for (const method of schema.service(service).methods) methods[method.name] = method;
    }
    this.#methods = methods;
  }

  /**
   * Makes a client; connections open on first use.
   *
   * @param options endpoints, deadlines and retry bounds; see {@link ClientOptions}
   */
  static async connect(options: ClientOptions): Promise<BlueprintClient> {
    return new BlueprintClient(await loadEtcdSchema(), options);
  }

  /** The endpoint the next call goes to (the leader once known). */
  get endpoint(): string {
    return this.#endpoints.current;
  }

  /** Every endpoint the client knows. */
  get endpoints(): readonly string[] {
    return this.#endpoints.all;
  }

  /** The loaded etcd schema (for codecs of messages this class does not wrap). */
  get schema(): ProtoSchema {
    return this.#schema;
  }

  // ---- KV ----

  /**
   * Writes `value` at `key`. Not retried once it may have reached the leader.
   *
   * @param key the key
   * @param value the value
   * @param options lease, prev_kv, deadline
   */
  put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResponse> {
    return this.call<PutResponse>("Put", "write", {
      key: toBytes(key),
      value: toBytes(value),
      lease: options.lease ?? 0n,
      prev_kv: options.prev_kv ?? false,
    }, options);
  }

  /**
   * Reads one key, a prefix or a range; linearizable unless `serializable`.
   *
   * @param key the key, prefix or range start
   * @param options range, limit, revision, consistency, deadline
   */
  get(key: Bytes, options: GetOptions = {}): Promise<RangeResponse> {
    const key_bytes = toBytes(key);
    return this.call<RangeResponse>("Range", "read", {
      key: key_bytes,
      range_end: rangeEndFor(key_bytes, options),
      limit: options.limit ?? 0,
      revision: options.revision ?? 0,
      serializable: options.serializable ?? false,
      keys_only: options.keys_only ?? false,
      count_only: options.count_only ?? false,
    }, options);
  }

  /**
   * Deletes one key, a prefix or a range (replicated like every write).
   *
   * @param key the key, prefix or range start
   * @param options range, prev_kv, deadline
   */
  delete(key: Bytes, options: DeleteOptions = {}): Promise<DeleteRangeResponse> {
    const key_bytes = toBytes(key);
    return this.call<DeleteRangeResponse>("DeleteRange", "write", {
      key: key_bytes,
      range_end: rangeEndFor(key_bytes, options),
      prev_kv: options.prev_kv ?? false,
    }, options);
  }

  /**
   * Runs a transaction: if every comparison holds, `success`, else `failure`.
   *
   * @param request the comparisons and operations, as etcd's TxnRequest
   * @param options deadline
   */
  txn(request: Encodable<TxnRequest>, options: CallOptions = {}): Promise<TxnResponse> {
    const writes = [...(request.success ?? []), ...(request.failure ?? [])].some((op) =>
      op?.request_range === undefined || op.request_range === null
    );
    return this.call<TxnResponse>("Txn", writes ? "write" : "read", request, options);
  }

  /**
   * Sets `key` to `value` if its value is `expected` (`null`: the key is missing), in one
   * transaction. Resolves with whether it swapped.
   *
   * @param key the key
   * @param expected the value required, or null for "missing"
   * @param value the new value
   * @param options deadline
   */
  async compareAndSwap(
    key: Bytes,
    expected: Bytes | null,
    value: Bytes,
    options: CallOptions = {},
  ): Promise<boolean> {
    const key_bytes = toBytes(key);
    const compare = expected === null
      ? {
        key: key_bytes,
        target: CompareTarget.CREATE,
        result: CompareResult.EQUAL,
        create_revision: 0n,
      }
      : {
        key: key_bytes,
        target: CompareTarget.VALUE,
        result: CompareResult.EQUAL,
        value: toBytes(expected),
      };
    const response = await this.txn({
      compare: [compare],
      success: [{ request_put: { key: key_bytes, value: toBytes(value) } }],
    }, options);
    return response.succeeded;
  }

  /**
   * Watches a key, prefix or range. The stream resumes on another endpoint after a failure
   * from the revision after the last one delivered: no gap, no duplicate.
   *
   * @param key the key, prefix or range start
   * @param options range, start revision, buffer bound
   */
  watch(key: Bytes, options: WatchOptions = {}): WatchStream {
    this.#assertOpen();
    const stream = new WatchStream(this, this.#methods.Watch, toBytes(key), options);
    this.#closers.add(stream);
    stream.closed.finally(() => this.#closers.delete(stream));
    return stream;
  }

  // ---- Lease ----

  /**
   * Grants a lease of `ttl_s` seconds.
   *
   * @param ttl_s time to live in seconds
   * @param options deadline
   */
  leaseGrant(ttl_s: number, options: CallOptions = {}): Promise<LeaseGrantResponse> {
    if (!Number.isSafeInteger(ttl_s) || ttl_s < 1) {
      return Promise.reject(new RangeError(`ttl_s is ${ttl_s}; allowed: an integer >= 1`));
    }
    return this.call<LeaseGrantResponse>("LeaseGrant", "write", { TTL: ttl_s }, options);
  }

  /**
   * Revokes a lease; its keys are deleted.
   *
   * @param id the lease
   * @param options deadline
   */
  async leaseRevoke(id: bigint, options: CallOptions = {}): Promise<void> {
    await this.call("LeaseRevoke", "write", { ID: id }, options);
  }

  /**
   * The remaining time of a lease (-1: expired or unknown) and optionally its keys.
   *
   * @param id the lease
   * @param keys whether to list the attached keys
   * @param options deadline
   */
  leaseTimeToLive(
    id: bigint,
    keys = false,
    options: CallOptions = {},
  ): Promise<LeaseTimeToLiveResponse> {
    return this.call<LeaseTimeToLiveResponse>("LeaseTimeToLive", "read", { ID: id, keys }, options);
  }

  /**
   * Keeps a lease alive until {@link LeaseKeepAlive.close} (or the lease is gone), renewing
   * every third of its TTL and moving to another endpoint after a failure.
   *
   * @param id the lease
   * @param ttl_s its TTL in seconds (sets the renewal interval)
   */
  leaseKeepAlive(id: bigint, ttl_s: number): LeaseKeepAlive {
    this.#assertOpen();
    const keep_alive = new LeaseKeepAlive(this, this.#methods.LeaseKeepAlive, id, ttl_s);
    this.#closers.add(keep_alive);
    keep_alive.done.finally(() => this.#closers.delete(keep_alive));
    return keep_alive;
  }

  // ---- Cluster and maintenance ----

  /**
   * Every member of the cluster.
   *
   * @param options deadline
   */
  async memberList(options: CallOptions = {}): Promise<Member[]> {
    const response = await this.call<MemberListResponse>("MemberList", "read", {
      linearizable: true,
    }, options);
    return response.members;
  }

  /**
   * Adds a member with these peer URLs (a learner when `learner`).
   *
   * @param peer_urls the new member's peer URLs
   * @param learner add it as a learner
   * @param options deadline
   */
  memberAdd(
    peer_urls: readonly string[],
    learner = false,
    options: CallOptions = {},
  ): Promise<MemberAddResponse> {
    if (peer_urls.length === 0) {
      return Promise.reject(new RangeError("no peer URLs given; a member needs at least one"));
    }
    return this.call<MemberAddResponse>("MemberAdd", "write", {
      peerURLs: peer_urls,
      isLearner: learner,
    }, options);
  }

  /**
   * Removes a member.
   *
   * @param id the member ID
   * @param options deadline
   */
  async memberRemove(id: bigint, options: CallOptions = {}): Promise<Member[]> {
    return (await this.call<MemberListResponse>("MemberRemove", "write", { ID: id }, options))
      .members;
  }

  /**
   * Promotes a learner to a voting member.
   *
   * @param id the learner's member ID
   * @param options deadline
   */
  async memberPromote(id: bigint, options: CallOptions = {}): Promise<Member[]> {
    return (await this.call<MemberListResponse>("MemberPromote", "write", { ID: id }, options))
      .members;
  }

  /**
   * The status of one member, asked at `endpoint` only (no failover: the answer is about it).
   *
   * @param endpoint the member's client address
   * @param options deadline
   */
  async status(endpoint: string, options: CallOptions = {}): Promise<EndpointStatus> {
    const address = normalizeEndpoint(endpoint);
    const method = this.#methods.Status;
    const deadline_ms = options.deadline_ms ?? this.#options.attempt_timeout_ms;
    try {
      const response = await this.#channel(address).unary<unknown, StatusResponse>(
        method,
        {},
        { deadline_ms },
      );
      return { ...response, endpoint: address };
    } catch (error) {
      throw new ClientError("Status", address, 1, 1, asRpcError(error));
    }
  }

  /**
   * Finds the leader: asks each endpoint's status until one names a leader, then maps its
   * member ID to a client address through the member list. Also makes it the preferred
   * endpoint. Rejects when no endpoint knows a leader.
   *
   * @param options deadline of each question
   */
  async findLeader(options: CallOptions = {}): Promise<LeaderInfo> {
    const failures: string[] = [];
    for (const endpoint of [...this.#endpoints.all]) {
      try {
        const status = await this.status(endpoint, options);
        if (status.leader === 0n) {
          failures.push(`${endpoint}: no leader known`);
          continue;
        }
        if (status.header?.member_id === status.leader) {
          this.#endpoints.noteLeader(endpoint);
          return { member_id: status.leader, endpoint };
        }
        const members = await this.memberList(options);
        const leader = members.find((member) => member.ID === status.leader);
        const url = leader?.clientURLs[0];
        if (url === undefined) {
          failures.push(`${endpoint}: leader ${status.leader} has no client URL`);
          continue;
        }
        const address = normalizeEndpoint(url);
        this.#endpoints.noteLeader(address);
        return { member_id: status.leader, endpoint: address };
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    throw new Error(`no leader found: ${failures.join("; ")}`);
  }

  /**
   * Asks the leader to hand leadership to `target_id` (sent to the leader, as etcd requires).
   *
   * @param target_id the member to become leader
   * @param options deadline
   */
  async moveLeader(target_id: bigint, options: CallOptions = {}): Promise<void> {
    await this.findLeader(options);
    await this.call("MoveLeader", "write", { targetID: target_id }, options);
  }

  /** Closes watches, keep-alives and connections; later calls reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const closer of [...this.#closers]) closer.close();
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
  }

  // ---- the call path ----

  /**
   * Sends a unary call with failover and safe retries: reads are repeated on transient
   * errors, writes only when the error proves they were not applied.
   *
   * @param method_name the etcd method, e.g. `Put`
   * @param kind whether it reads or writes
   * @param request the request
   * @param options deadline of the whole call
   */
  async call<Res>(
    method_name: string,
    kind: CallKind,
    request: unknown,
    options: CallOptions = {},
  ): Promise<Res> {
    this.#assertOpen();
    const method = this.#methods[method_name];
    if (method === undefined) throw new RangeError(`unknown etcd method ${method_name}`);
    const deadline_at = Date.now() +
      positive("deadline_ms", options.deadline_ms ?? this.#options.deadline_ms);
    const max_attempts = this.#options.max_attempts;
    for (let attempt = 1;; attempt++) {
      const endpoint = this.#endpoints.current;
      const remaining_ms = deadline_at - Date.now();
      try {
        const response = await this.#channel(endpoint).unary<unknown, Res>(
          method,
          request as never,
          {
            deadline_ms: Math.max(1, Math.min(remaining_ms, this.#options.attempt_timeout_ms)),
          },
        );
        this.noteHeader((response as { header?: ResponseHeader }).header);
        return response;
      } catch (error) {
        if (this.#closed) throw error;
        const rpc_error = asRpcError(error);
        const decision = decideRetry(rpc_error, kind);
        this.noteFailure(endpoint, decision.leader_address, decision.switch_endpoint);
        const pause_ms = backoffMs(
          attempt,
          this.#options.backoff_base_ms,
          DEFAULTS.backoff_max_ms,
          Math.random(),
        );
        const out_of_time = Date.now() + pause_ms >= deadline_at;
        if (!decision.retry || attempt >= max_attempts || out_of_time) {
          throw new ClientError(
            method_name,
            endpoint,
            attempt,
            max_attempts,
            rpc_error,
            decision.leader_address,
            !decision.retry ? "not_retryable" : attempt >= max_attempts ? "attempts" : "deadline",
          );
        }
        await sleep(pause_ms);
      }
    }
  }

  /**
   * Learns from a response header: follows the leader's client address when it names one.
   *
   * @param header the response header, if any
   */
  noteHeader(header: ResponseHeader | undefined): void {
    if (!this.#options.follow_leader_hint || header === undefined) return;
    if (header.leader_client_address) this.#endpoints.noteLeader(header.leader_client_address);
  }

  /**
   * Learns from a failure at `endpoint`: moves to the named leader, or to the next endpoint.
   *
   * @param endpoint where the failure happened
   * @param leader_address the leader the error named, or empty
   * @param switch_endpoint whether `endpoint` should be left
   */
  noteFailure(endpoint: string, leader_address: string, switch_endpoint: boolean): void {
    if (leader_address && this.#options.follow_leader_hint) {
      this.#endpoints.noteLeader(leader_address);
    } else if (switch_endpoint) {
      this.#endpoints.noteFailure(endpoint);
    }
  }

  /**
   * The channel to an endpoint (one per endpoint, made on first use).
   *
   * @param endpoint `host:port`
   */
  channelTo(endpoint: string): RpcChannel {
    return this.#channel(endpoint);
  }

  #channel(endpoint: string): RpcChannel {
    this.#assertOpen();
    let channel = this.#channels.get(endpoint);
    if (channel === undefined) {
      channel = new RpcChannel(endpoint, {
        default_deadline_ms: this.#options.deadline_ms,
        // etcd refuses pings more often than every 5 s (its --grpc-keepalive-min-time).
        keepalive_time_ms: 10_000,
        keepalive_timeout_ms: 5_000,
      });
      this.#channels.set(endpoint, channel);
    }
    return channel;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("the client is closed");
  }
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} is ${value}; allowed: an integer >= 1`);
  }
  return value;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
