/**
 * Requests and responses of the KV state machine as plain typed objects with etcd v3's
 * semantics. The wire layer maps etcd's protobuf messages to and from these.
 *
 * @module
 */

/** Who proposed a request, for de-duplicating retries: a member id and its own counter. */
export interface Origin {
  /** The proposing member (or client session) id; 1 to 256 UTF-8 bytes. */
  member_id: string;
  /** Increases by one per request of that origin; 1 to 2^53 - 1. */
  sequence: number;
}

/** What a {@link Compare} looks at. */
export type CompareTarget = "value" | "version" | "create_revision" | "mod_revision" | "lease";

/** How a {@link Compare} compares the key's field (left) with the operand (right). */
export type CompareOperator = "=" | "!=" | "<" | ">";

/**
 * One condition of a transaction. With `range_end` it must hold for every key of the range.
 * A missing key has version, create_revision, mod_revision and lease 0, and fails every
 * comparison on its value (as in etcd).
 */
export interface Compare {
  /** Key compared. */
  key: Uint8Array;
  /** etcd range end (see {@link RangeRequest.range_end}); empty or absent = just `key`. */
  range_end?: Uint8Array;
  /** Field compared. */
  target: CompareTarget;
  /** Operator. */
  operator: CompareOperator;
  /** Right side: bytes for "value", a non-negative integer for the other targets. */
  operand: Uint8Array | number;
}

/** Reads keys at the current or a past revision (inside a Txn, or through `range()`). */
export interface RangeRequest {
  /** Discriminant. */
  type: "range";
  /** First key. */
  key: Uint8Array;
  /**
   * etcd's range end: absent or empty = only `key`; `[0]` = every key >= `key`; otherwise
   * the keys in [key, range_end).
   */
  range_end?: Uint8Array;
  /** Most keys returned; 0 or absent = no limit. */
  limit?: number;
  /** Revision to read at; 0 or absent = the current revision. */
  revision?: number;
  /** Return keys and metadata without values. */
  keys_only?: boolean;
  /** Return only the count. */
  count_only?: boolean;
}

/** Sets a key. */
export interface PutRequest {
  /** Discriminant. */
  type: "put";
  /** Key, non-empty. */
  key: Uint8Array;
  /** New value (ignored with ignore_value). */
  value: Uint8Array;
  /** Lease to attach the key to; 0 or absent = none. */
  lease?: number;
  /** Return the previous key-value. */
  prev_kv?: boolean;
  /** Keep the current value (the key must exist). */
  ignore_value?: boolean;
  /** Keep the current lease (the key must exist; `lease` must be 0). */
  ignore_lease?: boolean;
}

/** Deletes one key or a range. */
export interface DeleteRangeRequest {
  /** Discriminant. */
  type: "delete_range";
  /** First key. */
  key: Uint8Array;
  /** etcd range end, as in {@link RangeRequest.range_end}. */
  range_end?: Uint8Array;
  /** Return the deleted key-values. */
  prev_kv?: boolean;
}

/** An operation inside a transaction branch. */
export type TxnOperation = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest;

/** If every compare holds, runs `success`, else `failure`; all at one revision. */
export interface TxnRequest {
  /** Discriminant. */
  type: "txn";
  /** Conditions, all of which must hold. */
  compare: Compare[];
  /** Operations when the conditions hold. */
  success: TxnOperation[];
  /** Operations otherwise. */
  failure: TxnOperation[];
}

/** Creates a lease. */
export interface LeaseGrantRequest {
  /** Discriminant. */
  type: "lease_grant";
  /** Lease id, 1 to 2^53 - 1; 0 = chosen by the state machine (deterministically). */
  id: number;
  /** Time to live in seconds, 1 to {@link MAX_LEASE_TTL_S}. */
  ttl_s: number;
}

/** Deletes a lease and every key attached to it (one revision). */
export interface LeaseRevokeRequest {
  /** Discriminant. */
  type: "lease_revoke";
  /** Lease id. */
  id: number;
}

/** Drops history below a revision. */
export interface CompactRequest {
  /** Discriminant. */
  type: "compact";
  /** Oldest revision still readable afterwards. */
  revision: number;
}

/** Anything that goes through Raft. */
export type RequestBody =
  | PutRequest
  | DeleteRangeRequest
  | TxnRequest
  | LeaseGrantRequest
  | LeaseRevokeRequest
  | CompactRequest;

/** A replicated request: its origin (for de-duplication) and what to do. */
export interface KvRequest {
  /** Who proposed it. */
  origin: Origin;
  /** What to do. */
  body: RequestBody;
}

/** A key with its MVCC metadata, as etcd's mvccpb.KeyValue. */
export interface KeyValue {
  /** Key. */
  key: Uint8Array;
  /** Value (empty with keys_only). */
  value: Uint8Array;
  /** Revision of the key's latest creation. */
  create_revision: number;
  /** Revision of the key's latest modification. */
  mod_revision: number;
  /** Number of modifications since creation (1 after creation). */
  version: number;
  /** Attached lease, 0 for none. */
  lease: number;
}

/** Result of a range. */
export interface RangeResponse {
  /** Discriminant. */
  type: "range";
  /** Keys found, in key order, at most `limit` (none with count_only). */
  kvs: KeyValue[];
  /** Whether more keys matched than were returned. */
  more: boolean;
  /** Number of keys in the range. */
  count: number;
}

/** Result of a put. */
export interface PutResponse {
  /** Discriminant. */
  type: "put";
  /** Previous key-value when asked and present. */
  prev_kv?: KeyValue;
}

/** Result of a delete. */
export interface DeleteRangeResponse {
  /** Discriminant. */
  type: "delete_range";
  /** Number of keys deleted. */
  deleted: number;
  /** Deleted key-values when asked. */
  prev_kvs: KeyValue[];
}

/** Result of a transaction. */
export interface TxnResponse {
  /** Discriminant. */
  type: "txn";
  /** Whether the compares held (success branch ran). */
  succeeded: boolean;
  /** One response per operation of the branch that ran. */
  responses: OperationResponse[];
}

/** Result of an operation inside a transaction. */
export type OperationResponse = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse;

/** Result of a lease grant. */
export interface LeaseGrantResponse {
  /** Discriminant. */
  type: "lease_grant";
  /** The lease id (chosen when requested as 0). */
  id: number;
  /** Granted TTL in seconds. */
  ttl_s: number;
}

/** Result of a lease revoke. */
export interface LeaseRevokeResponse {
  /** Discriminant. */
  type: "lease_revoke";
}

/** Result of a compaction. */
export interface CompactResponse {
  /** Discriminant. */
  type: "compact";
}

/** Why a request was refused; nothing it asked for was applied. */
export type KvErrorCode =
  | "invalid_argument"
  | "compacted"
  | "future_revision"
  | "lease_not_found"
  | "lease_exists"
  | "key_not_found"
  | "duplicate_key"
  | "too_old_to_deduplicate";

/** A refused request. */
export interface ErrorResponse {
  /** Discriminant. */
  type: "error";
  /** Machine-readable reason. */
  code: KvErrorCode;
  /** What was wrong and what is allowed. */
  message: string;
}

/** Result of any replicated request. */
export type ResponseBody =
  | PutResponse
  | DeleteRangeResponse
  | TxnResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse
  | CompactResponse
  | ErrorResponse;

/** A response with the store revision after the request (etcd's header.revision). */
export interface KvResponse {
  /** Store revision after applying the request. */
  revision: number;
  /** The result. */
  body: ResponseBody;
}

/** One change to a key, as etcd's mvccpb.Event. */
export interface KvEvent {
  /** Put or delete. */
  type: "put" | "delete";
  /** The key-value after the change; for a delete only key and mod_revision are set. */
  kv: KeyValue;
  /** Position inside the revision (0 for the first change of a revision). */
  sub_revision: number;
}

/** Longest lease TTL, as etcd's MaxLeaseTTL (9,000,000,000 s). */
export const MAX_LEASE_TTL_S = 9_000_000_000;

/**
 * A refused request or read: `code` says why, the message says what was wrong and what is
 * allowed.
 */
export class KvError extends Error {
  /** Machine-readable reason. */
  readonly code: KvErrorCode;
  /** Compacted revision, for `compacted` errors. */
  readonly compact_revision: number | undefined;

  /** Creates an error with a code and a message. */
  constructor(code: KvErrorCode, message: string, compact_revision?: number) {
    super(message);
    this.name = "KvError";
    this.code = code;
    this.compact_revision = compact_revision;
  }
}
