/**
 * etcd's v3 API as Blueprint speaks it: the file list, service names, a loader, and
 * TypeScript shapes of the messages as {@link MessageCodec} decodes them (field names as in
 * the `.proto` files, 64-bit integers as `bigint`, `bytes` as `Uint8Array`, enums as numbers).
 *
 * @module
 */
import type { MessageCodec, ProtoMessage } from "./message_codec.ts";
import { ProtoSchema } from "./proto_schema.ts";
import type { ProtoTextReader } from "./proto_files.ts";

/** The etcd API files, relative to this folder (`rpc.proto` imports `kv.proto`). */
export const ETCD_PROTO_FILES: readonly string[] = ["etcd/kv.proto", "etcd/rpc.proto"];

/** The fully qualified names of the etcd services Blueprint serves. */
export const ETCD_SERVICES = {
  KV: "etcdserverpb.KV",
  Watch: "etcdserverpb.Watch",
  Lease: "etcdserverpb.Lease",
  Cluster: "etcdserverpb.Cluster",
  Maintenance: "etcdserverpb.Maintenance",
} as const;

let etcd_schema: Promise<ProtoSchema> | undefined;

/**
 * Loads the etcd API once per process (later calls share the result). The files are read
 * relative to this module, from disk or over HTTP when the module was imported from a URL.
 *
 * @param read_text how to read a file; only for tests (a custom reader bypasses the cache)
 * @example
 * ```ts
 * const schema = await loadEtcdSchema();
 * const put = schema.codec<PutRequest>("etcdserverpb.PutRequest");
 * ```
 */
export function loadEtcdSchema(read_text?: ProtoTextReader): Promise<ProtoSchema> {
  const base_url = new URL("./", import.meta.url);
  if (read_text) return ProtoSchema.load(ETCD_PROTO_FILES, { base_url, read_text });
  etcd_schema ??= ProtoSchema.load(ETCD_PROTO_FILES, { base_url }).catch((error) => {
    etcd_schema = undefined; // let a later call retry, e.g. after a network error
    throw error;
  });
  return etcd_schema;
}

/** The codecs of the etcd messages the KV, Watch, Lease, Cluster and Status calls use. */
export interface EtcdCodecs {
  /** `etcdserverpb.ResponseHeader`. */
  readonly ResponseHeader: MessageCodec<ResponseHeader>;
  /** `mvccpb.KeyValue`. */
  readonly KeyValue: MessageCodec<KeyValue>;
  /** `etcdserverpb.RangeRequest`. */
  readonly RangeRequest: MessageCodec<RangeRequest>;
  /** `etcdserverpb.RangeResponse`. */
  readonly RangeResponse: MessageCodec<RangeResponse>;
  /** `etcdserverpb.PutRequest`. */
  readonly PutRequest: MessageCodec<PutRequest>;
  /** `etcdserverpb.PutResponse`. */
  readonly PutResponse: MessageCodec<PutResponse>;
  /** `etcdserverpb.DeleteRangeRequest`. */
  readonly DeleteRangeRequest: MessageCodec<DeleteRangeRequest>;
  /** `etcdserverpb.DeleteRangeResponse`. */
  readonly DeleteRangeResponse: MessageCodec<DeleteRangeResponse>;
  /** `etcdserverpb.TxnRequest`. */
  readonly TxnRequest: MessageCodec<TxnRequest>;
  /** `etcdserverpb.TxnResponse`. */
  readonly TxnResponse: MessageCodec<TxnResponse>;
  /** `etcdserverpb.WatchRequest`. */
  readonly WatchRequest: MessageCodec<WatchRequest>;
  /** `etcdserverpb.WatchResponse`. */
  readonly WatchResponse: MessageCodec<WatchResponse>;
}

/**
 * The typed codecs of the most used etcd messages.
 *
 * @example
 * ```ts
 * const codecs = etcdCodecs(await loadEtcdSchema());
 * const bytes = codecs.PutRequest.encode({ key: new TextEncoder().encode("k") });
 * ```
 */
export function etcdCodecs(schema: ProtoSchema): EtcdCodecs {
  const pb = "etcdserverpb.";
  return {
    ResponseHeader: schema.codec(`${pb}ResponseHeader`),
    KeyValue: schema.codec("mvccpb.KeyValue"),
    RangeRequest: schema.codec(`${pb}RangeRequest`),
    RangeResponse: schema.codec(`${pb}RangeResponse`),
    PutRequest: schema.codec(`${pb}PutRequest`),
    PutResponse: schema.codec(`${pb}PutResponse`),
    DeleteRangeRequest: schema.codec(`${pb}DeleteRangeRequest`),
    DeleteRangeResponse: schema.codec(`${pb}DeleteRangeResponse`),
    TxnRequest: schema.codec(`${pb}TxnRequest`),
    TxnResponse: schema.codec(`${pb}TxnResponse`),
    WatchRequest: schema.codec(`${pb}WatchRequest`),
    WatchResponse: schema.codec(`${pb}WatchResponse`),
  };
}

// ---- enums (the numbers on the wire) ----

/** `RangeRequest.SortOrder`. */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
/** `RangeRequest.SortTarget`. */
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
/** `Compare.CompareResult`. */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
/** `Compare.CompareTarget`. */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
/** `mvccpb.Event.EventType`. */
export const EventType = { PUT: 0, DELETE: 1 } as const;
/** `WatchCreateRequest.FilterType`. */
export const WatchFilterType = { NOPUT: 0, NODELETE: 1 } as const;

// ---- messages, as decoded ----

/** `etcdserverpb.ResponseHeader`, with Blueprint's fields 100 and 101. */
export interface ResponseHeader {
  /** The cluster that answered. */
  cluster_id: bigint;
  /** The member that answered. */
  member_id: bigint;
  /** The store's revision when the request was applied (0 outside the key-value store). */
  revision: bigint;
  /** The Raft term when the request was applied. */
  raft_term: bigint;
  /** Blueprint: the leader's member ID as the answering member knows it (0: unknown). */
  leader_id: bigint;
  /** Blueprint: the leader's client address, `host:port` (empty: unknown). */
  leader_client_address: string;
}

/** `mvccpb.KeyValue`. */
export interface KeyValue {
  /** The key. */
  key: Uint8Array;
  /** The revision of the key's last creation. */
  create_revision: bigint;
  /** The revision of the key's last modification. */
  mod_revision: bigint;
  /** The number of modifications since creation (a deletion resets it to 0). */
  version: bigint;
  /** The value. */
  value: Uint8Array;
  /** The attached lease (0: none). */
  lease: bigint;
}

/** `mvccpb.Event`. */
export interface Event {
  /** {@link EventType}. */
  type: number;
  /** The pair after a PUT; the deleted key (mod_revision = deletion) after a DELETE. */
  kv?: KeyValue;
  /** The pair before the event, when asked for. */
  prev_kv?: KeyValue;
}

/** `etcdserverpb.RangeRequest`. */
export interface RangeRequest {
  /** First key; alone, the only key looked up. */
  key: Uint8Array;
  /** End of `[key, range_end)`; `\0` = all keys >= key; empty = just key. */
  range_end: Uint8Array;
  /** Most keys returned (0: no limit). */
  limit: bigint;
  /** Revision to read at (<= 0: newest). */
  revision: bigint;
  /** {@link SortOrder}. */
  sort_order: number;
  /** {@link SortTarget}. */
  sort_target: number;
  /** Member-local read instead of linearizable. */
  serializable: boolean;
  /** Return keys without values. */
  keys_only: boolean;
  /** Return only the count. */
  count_only: boolean;
  /** Lower bound on mod revisions (0: none). */
  min_mod_revision: bigint;
  /** Upper bound on mod revisions (0: none). */
  max_mod_revision: bigint;
  /** Lower bound on create revisions (0: none). */
  min_create_revision: bigint;
  /** Upper bound on create revisions (0: none). */
  max_create_revision: bigint;
}

/** `etcdserverpb.RangeResponse`. */
export interface RangeResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The pairs found. */
  kvs: KeyValue[];
  /** True when the limit cut the result short. */
  more: boolean;
  /** Keys in the range, ignoring the limit. */
  count: bigint;
}

/** `etcdserverpb.PutRequest`. */
export interface PutRequest {
  /** The key. */
  key: Uint8Array;
  /** The value. */
  value: Uint8Array;
  /** Lease to attach (0: none). */
  lease: bigint;
  /** Return the previous pair. */
  prev_kv: boolean;
  /** Keep the current value (error if the key is missing). */
  ignore_value: boolean;
  /** Keep the current lease (error if the key is missing). */
  ignore_lease: boolean;
}

/** `etcdserverpb.PutResponse`. */
export interface PutResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The previous pair, when asked for and present. */
  prev_kv?: KeyValue;
}

/** `etcdserverpb.DeleteRangeRequest`. */
export interface DeleteRangeRequest {
  /** First key. */
  key: Uint8Array;
  /** End of the range, as in {@link RangeRequest}. */
  range_end: Uint8Array;
  /** Return the deleted pairs. */
  prev_kv: boolean;
}

/** `etcdserverpb.DeleteRangeResponse`. */
export interface DeleteRangeResponse {
  /** The header. */
  header?: ResponseHeader;
  /** Number of keys deleted. */
  deleted: bigint;
  /** The deleted pairs, when asked for. */
  prev_kvs: KeyValue[];
}

/** `etcdserverpb.RequestOp`: exactly one member set; `request` names it. */
export interface RequestOp {
  /** Which member is set. */
  request?: "request_range" | "request_put" | "request_delete_range" | "request_txn";
  /** A range. */
  request_range?: RangeRequest;
  /** A put. */
  request_put?: PutRequest;
  /** A delete. */
  request_delete_range?: DeleteRangeRequest;
  /** A nested transaction. */
  request_txn?: TxnRequest;
}

/** `etcdserverpb.ResponseOp`: exactly one member set; `response` names it. */
export interface ResponseOp {
  /** Which member is set. */
  response?: "response_range" | "response_put" | "response_delete_range" | "response_txn";
  /** A range's answer. */
  response_range?: RangeResponse;
  /** A put's answer. */
  response_put?: PutResponse;
  /** A delete's answer. */
  response_delete_range?: DeleteRangeResponse;
  /** A nested transaction's answer. */
  response_txn?: TxnResponse;
}

/** `etcdserverpb.Compare`. */
export interface Compare {
  /** {@link CompareResult}. */
  result: number;
  /** {@link CompareTarget}. */
  target: number;
  /** The key compared. */
  key: Uint8Array;
  /** Which of the target members is set. */
  target_union?: "version" | "create_revision" | "mod_revision" | "value" | "lease";
  /** Version to compare with. */
  version?: bigint;
  /** Create revision to compare with. */
  create_revision?: bigint;
  /** Mod revision to compare with. */
  mod_revision?: bigint;
  /** Value to compare with. */
  value?: Uint8Array;
  /** Lease to compare with. */
  lease?: bigint;
  /** Compare every key in `[key, range_end)`. */
  range_end: Uint8Array;
}

/** `etcdserverpb.TxnRequest`. */
export interface TxnRequest {
  /** All must hold for `success` to run. */
  compare: Compare[];
  /** Operations when every comparison holds. */
  success: RequestOp[];
  /** Operations otherwise. */
  failure: RequestOp[];
}

/** `etcdserverpb.TxnResponse`. */
export interface TxnResponse {
  /** The header. */
  header?: ResponseHeader;
  /** True if every comparison held. */
  succeeded: boolean;
  /** One answer per applied operation. */
  responses: ResponseOp[];
}

/** `etcdserverpb.WatchCreateRequest`. */
export interface WatchCreateRequest {
  /** Key to watch. */
  key: Uint8Array;
  /** End of the watched range, as in {@link RangeRequest}. */
  range_end: Uint8Array;
  /** First revision to send (0: now). */
  start_revision: bigint;
  /** Periodic empty responses while idle. */
  progress_notify: boolean;
  /** {@link WatchFilterType} values to drop. */
  filters: number[];
  /** Send the previous pair with each event. */
  prev_kv: boolean;
  /** ID to give the watcher (0: the server picks). */
  watch_id: bigint;
  /** Allow splitting large revisions. */
  fragment: boolean;
}

/** `etcdserverpb.WatchRequest`: one of create, cancel or progress. */
export interface WatchRequest {
  /** Which member is set. */
  request_union?: "create_request" | "cancel_request" | "progress_request";
  /** Create a watcher. */
  create_request?: WatchCreateRequest;
  /** Cancel a watcher. */
  cancel_request?: { watch_id: bigint };
  /** Ask for a progress response. */
  progress_request?: Record<string, never>;
}

/** `etcdserverpb.WatchResponse`. */
export interface WatchResponse {
  /** The header (its revision is the progress mark). */
  header?: ResponseHeader;
  /** The watcher this is for. */
  watch_id: bigint;
  /** Answer to a create. */
  created: boolean;
  /** The watcher is gone; nothing more follows for it. */
  canceled: boolean;
  /** Set when the start revision was compacted. */
  compact_revision: bigint;
  /** Why the watcher was canceled. */
  cancel_reason: string;
  /** Part of a split revision. */
  fragment: boolean;
  /** Events in revision order. */
  events: Event[];
}

/** `etcdserverpb.Member`. */
export interface Member {
  /** Member ID. */
  ID: bigint;
  /** Human-readable name. */
  name: string;
  /** Peer URLs. */
  peerURLs: string[];
  /** Client URLs. */
  clientURLs: string[];
  /** A raft learner. */
  isLearner: boolean;
}

/** `etcdserverpb.LeaseGrantRequest`. */
export interface LeaseGrantRequest {
  /** Advisory time to live, in seconds. */
  TTL: bigint;
  /** Requested lease ID (0: the server chooses). */
  ID: bigint;
}

/** `etcdserverpb.LeaseGrantResponse`. */
export interface LeaseGrantResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The granted lease ID. */
  ID: bigint;
  /** The granted time to live, in seconds. */
  TTL: bigint;
  /** An error text (etcd leaves it empty and answers errors as statuses). */
  error: string;
}

/** `etcdserverpb.LeaseRevokeRequest`, `LeaseKeepAliveRequest`: a lease ID. */
export interface LeaseIdRequest {
  /** The lease. */
  ID: bigint;
}

/** `etcdserverpb.LeaseKeepAliveResponse`. */
export interface LeaseKeepAliveResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The lease kept alive. */
  ID: bigint;
  /** Its new time to live, in seconds (0 or less: the lease is gone). */
  TTL: bigint;
}

/** `etcdserverpb.LeaseTimeToLiveRequest`. */
export interface LeaseTimeToLiveRequest {
  /** The lease. */
  ID: bigint;
  /** Also list the attached keys. */
  keys: boolean;
}

/** `etcdserverpb.LeaseTimeToLiveResponse`. */
export interface LeaseTimeToLiveResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The lease. */
  ID: bigint;
  /** Remaining time to live, in seconds (-1: expired or unknown). */
  TTL: bigint;
  /** Time to live at grant or last renewal, in seconds. */
  grantedTTL: bigint;
  /** Attached keys, when asked for. */
  keys: Uint8Array[];
}

/** `etcdserverpb.MemberAddRequest`. */
export interface MemberAddRequest {
  /** The new member's peer URLs. */
  peerURLs: string[];
  /** Add as a raft learner. */
  isLearner: boolean;
}

/** `etcdserverpb.MemberListResponse` (also the shape of Remove/Promote/Update answers). */
export interface MemberListResponse {
  /** The header. */
  header?: ResponseHeader;
  /** All members. */
  members: Member[];
}

/** `etcdserverpb.MemberAddResponse`. */
export interface MemberAddResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The added member. */
  member?: Member;
  /** All members after the addition. */
  members: Member[];
}

/** `etcdserverpb.MemberRemoveRequest`, `MemberPromoteRequest`: a member ID. */
export interface MemberIdRequest {
  /** The member. */
  ID: bigint;
}

/** `etcdserverpb.MoveLeaderRequest`. */
export interface MoveLeaderRequest {
  /** The member to become leader. */
  targetID: bigint;
}

/** `etcdserverpb.StatusResponse`. */
export interface StatusResponse {
  /** The header. */
  header?: ResponseHeader;
  /** Protocol version of the member. */
  version: string;
  /** Physically allocated database size, in bytes. */
  dbSize: bigint;
  /** The leader as this member believes. */
  leader: bigint;
  /** Raft committed index. */
  raftIndex: bigint;
  /** Raft term. */
  raftTerm: bigint;
  /** Raft applied index. */
  raftAppliedIndex: bigint;
  /** Alarm and health messages. */
  errors: string[];
  /** Logically used database size, in bytes. */
  dbSizeInUse: bigint;
  /** The member is a raft learner. */
  isLearner: boolean;
  /** Version of the database files. */
  storageVersion: string;
  /** Configured storage quota, in bytes. */
  dbSizeQuota: bigint;
}

/** Any etcd message not given a shape above. */
export type EtcdMessage = ProtoMessage;
