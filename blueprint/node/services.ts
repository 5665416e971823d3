/**
 * The gRPC services of a Blueprint node: etcd's KV, Watch, Lease, Cluster and Maintenance,
 * and the member-to-member Internal service. Handlers translate messages and call the node;
 * every answer carries the node's response header.
 *
 * @module
 */
import { ConfChangeType } from "../raft/mod.ts";
import {
  decodeRequest,
  encodeResponse,
  KvError,
  type KvResponse,
  MAX_LEASE_TTL_S,
  type RangeResult,
  type Watcher,
} from "../kv/mod.ts";
import {
  type DeleteRangeRequest,
  ETCD_SERVICES,
  type Member,
  methodOf,
  type PutRequest,
  type RangeRequest,
  type TxnRequest,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from "../../shared/proto/mod.ts";
import {
  checkCount,
  etcdError,
  invalidArgument,
  RpcError,
  rpcError,
  type RpcServer,
  Status,
  unimplemented,
} from "../../shared/rpc/mod.ts";
import { yieldToEventLoop } from "../../shared/runtime/mod.ts";
import type { BlueprintNode } from "./blueprint_node.ts";
import {
  deleteBody,
  evaluateReadOnlyTxn,
  eventOf,
  isReadOnlyTxn,
  isSerializableTxn,
  KeyValueHasher,
  keyValueOf,
  putBody,
  rangeBody,
  responseOpOf,
  rpcErrorOfKv,
  toSafeNumber,
  txnBody,
} from "./etcd_mapping.ts";
import { memberIdOf } from "./member_ids.ts";
import type { MemberRecord } from "./node_entry.ts";
import { grpc } from "../../deps.ts";

/** The internal service's full name. */
export const INTERNAL_SERVICE = "blueprint.node.Internal";

/** Most watchers one Watch stream may hold. */
export const MAX_WATCHERS_PER_STREAM = 1000;
/** Interval of progress notifications to idle watchers that asked for them, in ms. */
export const PROGRESS_NOTIFY_INTERVAL_MS = 10_000;

/** Adds every service of `node` to `server` (before it listens). */
export function addServices(node: BlueprintNode, server: RpcServer): void {
  server.addService(node.schema, ETCD_SERVICES.KV, kvHandlers(node));
  server.addService(node.schema, ETCD_SERVICES.Watch, { Watch: (call) => watchStream(node, call) });
  server.addService(node.schema, ETCD_SERVICES.Lease, leaseHandlers(node));
  server.addService(node.schema, ETCD_SERVICES.Cluster, clusterHandlers(node));
  server.addService(node.schema, ETCD_SERVICES.Maintenance, maintenanceHandlers(node));
  server.addService(node.internal_schema, INTERNAL_SERVICE, internalHandlers(node));
  node.registry.addTo(server, node.registry_schema);
}

/** Turns a KV error body or exception into the gRPC error to answer. */
function check(response: KvResponse): KvResponse {
  if (response.body.type === "error") throw rpcErrorOfKv(response.body);
  return response;
}

function kvCall<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof KvError) throw rpcErrorOfKv(error);
    throw error;
  }
}

// ---- KV ----------------------------------------------------------------------------------

function kvHandlers(node: BlueprintNode) {
  return {
    Range: async (request: RangeRequest) => {
      const body = kvCall(() => rangeBody(request));
      if (!request.serializable) await node.linearize();
      const result = kvCall(() => rangeWithOptions(node, request, body));
      return {
        header: node.header(result.revision),
        kvs: result.kvs.map(keyValueOf),
        more: result.more,
        count: BigInt(result.count),
      };
    },
    Put: async (request: PutRequest) => {
      const response = check(await node.write(kvCall(() => putBody(request))));
      const body = response.body as { type: "put"; prev_kv?: import("../kv/mod.ts").KeyValue };
      return {
        header: node.header(response.revision),
        prev_kv: body.prev_kv ? keyValueOf(body.prev_kv) : undefined,
      };
    },
    DeleteRange: async (request: DeleteRangeRequest) => {
      const response = check(await node.write(kvCall(() => deleteBody(request))));
      const body = response.body as { type: "delete_range"; deleted: number; prev_kvs: [] };
      return {
        header: node.header(response.revision),
        deleted: BigInt(body.deleted),
        prev_kvs: body.prev_kvs.map(keyValueOf),
      };
    },
    Txn: async (request: TxnRequest) => {
      const txn = kvCall(() => txnBody(request, node.config.max_txn_ops));
      if (isReadOnlyTxn(request)) {
        // Changes nothing, so no log entry: served like a Range (ReadIndex unless serializable).
        if (!isSerializableTxn(request)) await node.linearize();
        // Synchronous from here: every read in the txn sees the same applied revision.
        const result = kvCall(() => evaluateReadOnlyTxn(txn, node.machine));
        const header = node.header();
        return {
          header,
          succeeded: result.succeeded,
          responses: result.responses.map((r) => responseOpOf(r, header)),
        };
      }
      const response = check(await node.write(txn));
      if (response.body.type !== "txn") throw new Error("invariant: a txn answered a non-txn");
      const header = node.header(response.revision);
      return {
        header,
        succeeded: response.body.succeeded,
        responses: response.body.responses.map((r) => responseOpOf(r, header)),
      };
    },
    Compact: async (request: { revision: bigint }) => {
      const revision = toSafeNumber(request.revision, "revision");
      const response = check(await node.write({ type: "compact", revision }));
      return { header: node.header(response.revision) };
    },
  };
}

/**
 * A range with etcd's options the state machine does not know: sort order and target, and
 * bounds on mod and create revisions. Those read the whole range, then filter, sort, limit.
 */
function rangeWithOptions(
  node: BlueprintNode,
  request: RangeRequest,
  body: ReturnType<typeof rangeBody>,
): RangeResult {
  const options = { revision: body.revision, keys_only: body.keys_only };
  const bounds = {
    min_mod: Number(request.min_mod_revision ?? 0),
    max_mod: Number(request.max_mod_revision ?? 0),
    min_create: Number(request.min_create_revision ?? 0),
    max_create: Number(request.max_create_revision ?? 0),
  };
  const filtered = Object.values(bounds).some((v) => v > 0);
  const sorted = (request.sort_order ?? 0) !== 0 || (request.sort_target ?? 0) !== 0;
  if (!filtered && !sorted) {
    return node.machine.range(body.key, body.range_end, {
      ...options,
      limit: body.limit,
      count_only: body.count_only,
    });
  }
  const all = node.machine.range(body.key, body.range_end, options);
  let kvs = all.kvs.filter((kv) =>
    (bounds.min_mod === 0 || kv.mod_revision >= bounds.min_mod) &&
    (bounds.max_mod === 0 || kv.mod_revision <= bounds.max_mod) &&
    (bounds.min_create === 0 || kv.create_revision >= bounds.min_create) &&
    (bounds.max_create === 0 || kv.create_revision <= bounds.max_create)
  );
  if (sorted) {
    const field = (kv: (typeof kvs)[number]): number | Uint8Array =>
      [kv.key, kv.version, kv.create_revision, kv.mod_revision, kv.value][request.sort_target] ??
        kv.key;
    const descending = request.sort_order === 2;
    kvs = [...kvs].sort((a, b) => {
      const order = compareField(field(a), field(b));
      return descending ? -order : order;
    });
  }
  const count = kvs.length;
  const limit = body.limit ?? 0;
  const limited = limit > 0 ? kvs.slice(0, limit) : kvs;
  return {
    type: "range",
    kvs: body.count_only ? [] : limited,
    more: limited.length < count,
    count,
    revision: all.revision,
  };
}

function compareField(a: number | Uint8Array, b: number | Uint8Array): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const x = a as Uint8Array, y = b as Uint8Array;
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

// ---- Watch -------------------------------------------------------------------------------

type WatchCall = grpc.ServerDuplexStream<WatchRequest, unknown>;

/**
 * One Watch stream: creates and cancels watchers, answers progress requests, and forwards
 * each watcher's events in revision order.
 */
function watchStream(node: BlueprintNode, call: WatchCall): void {
  const watchers = new Map<bigint, { watcher: Watcher; timer?: ReturnType<typeof setInterval> }>();
  let next_id = 0n;
  let ended = false;
  const send = (response: Partial<WatchResponse>) => {
    if (!ended) call.write({ header: node.header(), ...response } as never);
  };
  const end = () => {
    if (ended) return;
    ended = true;
    node.open_streams.delete(end);
    for (const { watcher, timer } of watchers.values()) {
      clearInterval(timer);
      watcher.cancel();
    }
    watchers.clear();
    call.end();
  };
  node.open_streams.add(end);
  call.on("data", (request: WatchRequest) => {
    try {
      switch (request.request_union) {
        case "create_request": {
          const create = request.create_request!;
          checkCount("watchers on this stream", watchers.size + 1, MAX_WATCHERS_PER_STREAM);
          const id = create.watch_id > 0n ? create.watch_id : next_id++;
          if (watchers.has(id)) throw invalidArgument(`watch id ${id} is already in use`);
          startWatcher(node, create, id, watchers, send);
          return;
        }
        case "cancel_request": {
          const id = request.cancel_request!.watch_id;
          const entry = watchers.get(id);
          if (entry) entry.watcher.cancel();
          return;
        }
        case "progress_request":
          send({ watch_id: -1n });
          return;
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      send({ watch_id: -1n, created: true, canceled: true, cancel_reason: reason });
    }
  });
  call.on("end", end);
  call.on("error", end);
  call.on("cancelled", end);
}

function startWatcher(
  node: BlueprintNode,
  create: WatchCreateRequest,
  id: bigint,
  watchers: Map<bigint, { watcher: Watcher; timer?: ReturnType<typeof setInterval> }>,
  send: (response: Partial<WatchResponse>) => void,
): void {
  const start_revision = Math.max(0, Number(create.start_revision ?? 0));
  const watcher = kvCall(() =>
    node.hub.watch({
      key: create.key,
      range_end: create.range_end && create.range_end.length > 0 ? create.range_end : undefined,
      start_revision,
    })
  );
  const entry: { watcher: Watcher; timer?: ReturnType<typeof setInterval> } = { watcher };
  watchers.set(id, entry);
  send({ watch_id: id, created: true });
  const drop_puts = (create.filters ?? []).includes(0);
  const drop_deletes = (create.filters ?? []).includes(1);
  let last_send_ms = Date.now();
  if (create.progress_notify) {
    entry.timer = setInterval(() => {
      if (Date.now() - last_send_ms >= PROGRESS_NOTIFY_INTERVAL_MS) {
        last_send_ms = Date.now();
        send({ watch_id: id });
      }
    }, PROGRESS_NOTIFY_INTERVAL_MS);
  }
  (async () => {
    // Bounded by the watcher: each turn delivers events or ends with its cancellation.
    for (;;) {
      const result = await watcher.next();
      if (result.type === "cancelled") {
        clearInterval(entry.timer);
        watchers.delete(id);
        send({
          watch_id: id,
          canceled: true,
          compact_revision: BigInt(result.compact_revision ?? 0),
          cancel_reason: result.reason,
        });
        return;
      }
      const events = result.events.filter((e) =>
        !(drop_puts && e.event.type === "put") && !(drop_deletes && e.event.type === "delete")
      ).map((e) => {
        const event = eventOf(e.event);
        if (create.prev_kv) {
          const previous = previousKv(node, e.event.kv.key, e.revision);
          if (previous) event.prev_kv = previous;
        }
        return event;
      });
      if (events.length === 0) continue;
      last_send_ms = Date.now();
      const last = result.events[result.events.length - 1].revision;
      send({ header: node.header(Math.max(last, node.machine.revision)), watch_id: id, events });
    }
  })().catch((error) => {
    send({ watch_id: id, canceled: true, cancel_reason: String(error?.message ?? error) });
  });
}

function previousKv(node: BlueprintNode, key: Uint8Array, revision: number) {
  if (revision <= 1) return undefined;
  try {
    const kv = node.machine.range(key, undefined, { revision: revision - 1 }).kvs[0];
    return kv ? keyValueOf(kv) : undefined;
  } catch {
    return undefined; // compacted: etcd also sends no prev_kv then
  }
}

// ---- Lease -------------------------------------------------------------------------------

function leaseHandlers(node: BlueprintNode) {
  return {
    LeaseGrant: async (request: { TTL: bigint; ID: bigint }) => {
      const ttl_s = Number(request.TTL);
      if (ttl_s < 1) throw etcdError("TTLZero", `TTL is ${request.TTL}; allowed: 1 or more`);
      if (ttl_s > MAX_LEASE_TTL_S) throw etcdError("LeaseTTLTooLarge");
      const id = toSafeNumber(request.ID, "ID");
      const response = check(await node.write({ type: "lease_grant", id, ttl_s }));
      const body = response.body as { type: "lease_grant"; id: number; ttl_s: number };
      return {
        header: node.header(response.revision),
        ID: BigInt(body.id),
        TTL: BigInt(body.ttl_s),
      };
    },
    LeaseRevoke: async (request: { ID: bigint }) => {
      const id = toSafeNumber(request.ID, "ID");
      if (id === 0) throw etcdError("LeaseNotFound");
      const response = check(await node.write({ type: "lease_revoke", id }));
      return { header: node.header(response.revision) };
    },
    LeaseKeepAlive: (call: grpc.ServerDuplexStream<{ ID: bigint }, unknown>) => {
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        node.open_streams.delete(end);
        call.end();
      };
      node.open_streams.add(end);
      // One renewal at a time per stream keeps the answers in request order.
      let tail: Promise<void> = Promise.resolve();
      call.on("data", (request: { ID: bigint }) => {
        tail = tail.then(async () => {
          const ttl_s = await keepAlive(node, Number(request.ID));
          if (!ended) call.write({ header: node.header(), ID: request.ID, TTL: BigInt(ttl_s) });
        }).catch((error) => {
          if (!ended) call.emit("error", error instanceof RpcError ? error : toRpc(error));
          end();
        });
      });
      call.on("end", end);
      call.on("error", end);
      call.on("cancelled", end);
    },
    LeaseTimeToLive: async (request: { ID: bigint; keys: boolean }) => {
      if (!node.is_leader) {
        return await forwardEtcd(node, ETCD_SERVICES.Lease, "LeaseTimeToLive", request);
      }
      const id = toSafeNumber(request.ID, "ID");
      try {
        const info = node.machine.leaseTimeToLive(id, Date.now());
        return {
          header: node.header(),
          ID: request.ID,
          TTL: BigInt(info.remaining_s),
          grantedTTL: BigInt(info.ttl_s),
          keys: request.keys ? info.keys : [],
        };
      } catch (error) {
        if (error instanceof KvError && error.code === "lease_not_found") {
          return { header: node.header(), ID: request.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
        }
        throw error;
      }
    },
    LeaseLeases: async () => {
      await node.linearize();
      return {
        header: node.header(),
        leases: node.machine.leases().map((lease) => ({ ID: BigInt(lease.id) })),
      };
    },
  };
}

/** Renews a lease on the leader (forwarding from a follower); 0 when it is unknown. */
async function keepAlive(node: BlueprintNode, id: number): Promise<number> {
  if (node.is_leader) {
    try {
      return node.machine.keepAliveLease(id, Date.now());
    } catch (error) {
      if (error instanceof KvError && error.code === "lease_not_found") return 0;
      throw error;
    }
  }
  const address = node.leader_client_address;
  if (!address) throw etcdError("NoLeader", undefined, node.leaderDetails());
  const reply = await node.peerChannel(address).unary<unknown, { ttl_s: bigint }>(
    methodOf(node.internal_schema.service(INTERNAL_SERVICE), "KeepAlive"),
    { lease_id: BigInt(id) },
  );
  return Number(reply.ttl_s);
}

function toRpc(error: unknown): RpcError {
  return new RpcError(Status.INTERNAL, error instanceof Error ? error.message : String(error));
}

/** Sends an etcd call to the leader (for calls only the leader can answer). */
async function forwardEtcd<Res>(
  node: BlueprintNode,
  service: string,
  method: string,
  request: unknown,
): Promise<Res> {
  const address = node.leader_client_address;
  if (!address || node.leader === node.id) {
    throw etcdError("NoLeader", undefined, node.leaderDetails());
  }
  return await node.peerChannel(address).unary<unknown, Res>(
    methodOf(node.schema.service(service), method),
    request as never,
  );
}

// ---- Cluster -----------------------------------------------------------------------------

function memberOf(record: MemberRecord, is_learner: boolean): Member {
  return {
    ID: memberIdOf(record.id),
    name: record.id,
    peerURLs: record.raft_address ? [`http://${record.raft_address}`] : [],
    clientURLs: record.client_address ? [`http://${record.client_address}`] : [],
    isLearner: is_learner,
  };
}

function memberList(node: BlueprintNode): Member[] {
  return node.currentMembers().map((m) => memberOf(m.record, m.is_learner));
}

function clusterHandlers(node: BlueprintNode) {
  return {
    MemberList: () => ({ header: node.header(), members: memberList(node) }),
    MemberAdd: async (request: { peerURLs: string[]; isLearner: boolean }) => {
      if (!node.is_leader) {
        return await forwardEtcd(node, ETCD_SERVICES.Cluster, "MemberAdd", request);
      }
      const raft_address = peerAddressOf(request.peerURLs);
      const taken = node.currentMembers().find((m) => m.record.raft_address === raft_address);
      if (taken) throw etcdError("PeerURLExist", `${raft_address} belongs to ${taken.record.id}`);
      const suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
      const record: MemberRecord = { id: `m${suffix}`, raft_address, client_address: "" };
      await addMember(node, record, request.isLearner);
      return {
        header: node.header(),
        member: memberOf(record, request.isLearner),
        members: memberList(node),
      };
    },
    MemberRemove: async (request: { ID: bigint }) => {
      if (!node.is_leader) {
        return await forwardEtcd(node, ETCD_SERVICES.Cluster, "MemberRemove", request);
      }
      const name = node.memberName(request.ID);
      if (name === undefined) throw etcdError("MemberNotFound");
      await node.proposeConfChange(ConfChangeType.RemoveNode, name);
      await node.proposeNodeCommand({ type: "member_remove", id: name });
      return { header: node.header(), members: memberList(node) };
    },
    MemberUpdate: async (request: { ID: bigint; peerURLs: string[] }) => {
      if (!node.is_leader) {
        return await forwardEtcd(node, ETCD_SERVICES.Cluster, "MemberUpdate", request);
      }
      const name = node.memberName(request.ID);
      if (name === undefined) throw etcdError("MemberNotFound");
      const raft_address = peerAddressOf(request.peerURLs);
      const current = node.currentMembers().find((m) => m.record.id === name)!.record;
      await node.proposeNodeCommand({
        type: "member_upsert",
        member: { ...current, raft_address },
      });
      return { header: node.header(), members: memberList(node) };
    },
    MemberPromote: async (request: { ID: bigint }) => {
      if (!node.is_leader) {
        return await forwardEtcd(node, ETCD_SERVICES.Cluster, "MemberPromote", request);
      }
      const name = node.memberName(request.ID);
      if (name === undefined) throw etcdError("MemberNotFound");
      if (!node.conf_state.learners.includes(name)) throw etcdError("MemberNotLearner");
      try {
        await node.proposeConfChange(ConfChangeType.AddVoter, name);
      } catch (error) {
        if (error instanceof RpcError && error.code === Status.FAILED_PRECONDITION) {
          throw etcdError("LearnerNotReady", undefined, node.leaderDetails());
        }
        throw error;
      }
      return { header: node.header(), members: memberList(node) };
    },
  };
}

/** The one peer URL of a MemberAdd or MemberUpdate as `host:port`. */
function peerAddressOf(urls: string[] | undefined): string {
  if (!urls || urls.length !== 1) {
    throw etcdError("MemberBadURLs", "give exactly one peer URL (the member's raft address)");
  }
  const address = urls[0].replace(/^[a-z]+:\/\//, "").replace(/\/$/, "");
  if (!/^.+:\d{1,5}$/.test(address)) throw etcdError("MemberBadURLs", urls[0]);
  return address;
}

/**
 * Replicates a new member's record, then adds it as a learner: a voter that has no log yet
 * would count toward quorums before it can vote usefully. One asked for as a voter is
 * promoted by the leader once it has caught up.
 */
async function addMember(node: BlueprintNode, record: MemberRecord, learner: boolean) {
  await node.proposeNodeCommand({ type: "member_upsert", member: record });
  await node.proposeConfChange(ConfChangeType.AddLearner, record.id);
  if (!learner) node.promoteWhenCaughtUp(record.id);
}

// ---- Maintenance -------------------------------------------------------------------------

function maintenanceHandlers(node: BlueprintNode) {
  return {
    Status: async () => {
      const status = await node.status();
      const stats = node.storage.stats();
      const size = stats.total_table_bytes + stats.memtable_bytes;
      return {
        header: node.header(),
        version: "3.5.0",
        dbSize: BigInt(size),
        dbSizeInUse: BigInt(size),
        leader: status.leader === null ? 0n : memberIdOf(status.leader),
        raftIndex: BigInt(status.commit_index),
        raftTerm: BigInt(status.term),
        raftAppliedIndex: BigInt(status.applied_index),
        isLearner: status.conf_state.learners.includes(node.id),
        storageVersion: "blueprint-1",
      };
    },
    MoveLeader: async (request: { targetID: bigint }) => {
      if (!node.is_leader) {
        return await forwardEtcd(node, ETCD_SERVICES.Maintenance, "MoveLeader", request);
      }
      const name = node.memberName(request.targetID);
      if (name === undefined || !node.conf_state.voters.includes(name)) {
        throw etcdError("BadLeaderTransferee", `${request.targetID} is not a voting member`);
      }
      if (name === node.id) return { header: node.header() };
      node.raft.transferLeader(name);
      const deadline = node.deadline();
      // Bounded by the request deadline.
      while (Date.now() < deadline) {
        if (node.leader === name) return { header: node.header() };
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw etcdError("Timeout", `${name} did not take leadership in time`, node.leaderDetails());
    },
    Alarm: (request: { action?: number }) => {
      // Blueprint raises no alarms (no space quota): listing and disarming find none.
      if ((request.action ?? 0) === 1) {
        throw invalidArgument("Blueprint raises no alarms; allowed actions: GET, DEACTIVATE");
      }
      return { header: node.header(), alarms: [] };
    },
    HashKV: async (request: { revision?: bigint }) => {
      const requested = toSafeNumber(request.revision, "revision");
      const revision = requested === 0 ? node.machine.revision : requested;
      const compact_revision = node.machine.compactRevision;
      const hasher = await hashKeyspace(node, revision);
      return {
        header: node.header(),
        hash: hasher.hash,
        compact_revision: BigInt(compact_revision),
        hash_revision: BigInt(revision),
      };
    },
    Hash: async () => {
      // The MVCC keyspace at the current revision, then the leases (id and TTL) as of the same
      // moment: what every member holds once it has applied the same entries.
      const revision = node.machine.revision;
      const leases = node.machine.leases().map((lease) => [lease.id, lease.ttl_s]);
      const hasher = await hashKeyspace(node, revision);
      for (const [id, ttl_s] of leases.sort((a, b) => a[0] - b[0])) {
        hasher.add({
          key: new Uint8Array(0),
          value: new Uint8Array(0),
          create_revision: 0,
          mod_revision: 0,
          version: ttl_s,
          lease: id,
        });
      }
      return { header: node.header(revision), hash: hasher.hash };
    },
    Defragment: async () => {
      await defragment(node);
      return { header: node.header() };
    },
    Snapshot: () => {
      throw unimplemented(
        "Maintenance.Snapshot is not offered by Blueprint yet; back up a member's data " +
          "directory while it is stopped, or replicate to a new member with MemberAdd",
      );
    },
  };
}

/** Pairs read per step of a hash; the event loop serves other calls between steps. */
export const HASH_PAGE_KEYS = 1000;
/** Bounds the hash loop: more keys than this many pages is refused. */
const MAX_HASH_PAGES = 100_000;

/**
 * Hashes every key-value at `revision`, in key order, a page at a time. Pages read at the
 * same revision, so applies in between do not change the answer; a compaction past
 * `revision` in between ends it with etcd's Compacted error.
 */
async function hashKeyspace(node: BlueprintNode, revision: number): Promise<KeyValueHasher> {
  const hasher = new KeyValueHasher();
  const all = new Uint8Array([0]);
  let start = all;
  for (let page = 0; page < MAX_HASH_PAGES; page++) {
    const result = kvCall(() =>
      node.machine.range(start, all, { revision, limit: HASH_PAGE_KEYS })
    );
    for (const kv of result.kvs) hasher.add(kv);
    if (!result.more || result.kvs.length === 0) return hasher;
    const last = result.kvs[result.kvs.length - 1].key;
    start = new Uint8Array(last.length + 1);
    start.set(last); // the smallest key after `last`
    await yieldToEventLoop();
  }
  throw rpcError(
    Status.RESOURCE_EXHAUSTED,
    `the keyspace has more than ${MAX_HASH_PAGES * HASH_PAGE_KEYS} keys; too many to hash`,
  );
}

/** Running storage compactions, one per node: a second Defragment waits for the first. */
const defragmenting = new WeakMap<BlueprintNode, Promise<void>>();

/** Compacts the member's whole storage range (etcd's Defragment: reclaims space locally). */
async function defragment(node: BlueprintNode): Promise<void> {
  let running = defragmenting.get(node);
  if (!running) {
    running = node.storage.compactRange().finally(() => defragmenting.delete(node));
    defragmenting.set(node, running);
  }
  try {
    await running;
  } catch (error) {
    throw rpcError(
      Status.INTERNAL,
      `defragment of ${node.id} failed: ${error instanceof Error ? error.message : error}`,
    );
  }
}

// ---- Internal ----------------------------------------------------------------------------

function internalHandlers(node: BlueprintNode) {
  return {
    Forward: async (request: { request: Uint8Array }) => {
      const decoded = kvCall(() => decodeRequest(request.request, node.limits));
      const response = await node.submit(
        request.request,
        decoded.origin,
        node.deadline(),
        false,
      );
      return { response: encodeResponse(response), raft_term: BigInt(node.raft.term) };
    },
    KeepAlive: async (request: { lease_id: bigint }) => {
      if (!node.is_leader) {
        throw etcdError("NotLeader", `${node.id} is not the leader`, node.leaderDetails());
      }
      return { ttl_s: BigInt(await keepAlive(node, Number(request.lease_id))) };
    },
    Publish: async (request: { member?: MemberRecord }) => {
      const member = checkRecord(request.member);
      await node.proposeNodeCommand({ type: "member_upsert", member });
      return {};
    },
    Join: async (request: { member?: MemberRecord; cluster_name: string }) => {
      const member = checkRecord(request.member);
      if (request.cluster_name !== node.config.cluster_name) {
        throw invalidArgument(
          `cluster name "${request.cluster_name}" does not match this cluster's "${node.config.cluster_name}"`,
        );
      }
      if (!node.is_leader) {
        const address = node.leader_client_address;
        if (!address) throw etcdError("NoLeader", undefined, node.leaderDetails());
        return await node.peerChannel(address).unary(
          methodOf(node.internal_schema.service(INTERNAL_SERVICE), "Join"),
          request as never,
        );
      }
      const known = node.currentMembers().some((m) => m.record.id === member.id);
      if (!known) await addMember(node, member, true);
      return {
        voters: node.conf_state.voters,
        members: node.currentMembers().map((m) => m.record),
      };
    },
  };
}

function checkRecord(member: MemberRecord | undefined): MemberRecord {
  if (!member?.id || !/^.+:\d{1,5}$/.test(member.raft_address ?? "")) {
    throw invalidArgument("member needs an id and a raft_address host:port");
  }
  return {
    id: member.id,
    raft_address: member.raft_address,
    client_address: member.client_address,
  };
}
