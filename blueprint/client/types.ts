/**
 * Shapes of the etcd messages the client uses beyond those in `shared/proto` (lease, cluster
 * and maintenance), as the message codec decodes them.
 *
 * @module
 */
import type { Member, ResponseHeader } from "../../shared/proto/mod.ts";

export {
  CompareResult,
  CompareTarget,
  EventType,
  SortOrder,
  SortTarget,
} from "../../shared/proto/mod.ts";
export type {
  DeleteRangeResponse,
  Event,
  KeyValue,
  Member,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnRequest,
  TxnResponse,
  WatchResponse,
} from "../../shared/proto/mod.ts";

/** `etcdserverpb.LeaseGrantResponse`. */
export interface LeaseGrantResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The granted lease ID. */
  ID: bigint;
  /** The granted time to live, in seconds. */
  TTL: bigint;
  /** A server error text (etcd leaves it empty). */
  error: string;
}

/** `etcdserverpb.LeaseKeepAliveResponse`. */
export interface LeaseKeepAliveResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The lease. */
  ID: bigint;
  /** The renewed time to live in seconds; 0 or less: the lease is gone. */
  TTL: bigint;
}

/** `etcdserverpb.LeaseTimeToLiveResponse`. */
export interface LeaseTimeToLiveResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The lease. */
  ID: bigint;
  /** Remaining seconds; -1: expired or unknown. */
  TTL: bigint;
  /** Seconds granted at creation or last renewal. */
  grantedTTL: bigint;
  /** The attached keys, when asked for. */
  keys: Uint8Array[];
}

/** `etcdserverpb.MemberListResponse` (and the add, remove, promote responses' shape). */
export interface MemberListResponse {
  /** The header. */
  header?: ResponseHeader;
  /** Every member. */
  members: Member[];
}

/** `etcdserverpb.MemberAddResponse`. */
export interface MemberAddResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The new member. */
  member?: Member;
  /** Every member after the addition. */
  members: Member[];
}

/** `etcdserverpb.StatusResponse` (the fields the client reads). */
export interface StatusResponse {
  /** The header. */
  header?: ResponseHeader;
  /** The member's protocol version. */
  version: string;
  /** Database size in bytes. */
  dbSize: bigint;
  /** The leader's member ID as this member knows it (0: none). */
  leader: bigint;
  /** The member's committed Raft index. */
  raftIndex: bigint;
  /** The member's Raft term. */
  raftTerm: bigint;
  /** The member's applied Raft index. */
  raftAppliedIndex: bigint;
  /** Alarm and health messages. */
  errors: string[];
  /** Whether the member is a learner. */
  isLearner: boolean;
}
