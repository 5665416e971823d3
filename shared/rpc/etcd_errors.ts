/**
 * etcd's server errors: the gRPC code and exact message of each, from etcd's public
 * `api/v3rpc/rpctypes/error.go`.
 *
 * etcd's clients recognise these by their exact message (clientv3 turns them into typed
 * errors such as `rpctypes.ErrCompacted`, and some retry decisions read them), so Blueprint
 * answers with the same text where a client may branch on it. An explanation can be added
 * (what was wrong and what is allowed); the code stays, but etcd's clients then see a generic
 * error of that code instead of their typed one, so keep the exact text for errors clients
 * act on (compacted, future revision, lease not found, no leader, leader changed).
 *
 * @module
 */
import { RpcError, Status, type StatusCode } from "./rpc_error.ts";

/** One etcd error: its gRPC code and exact message. */
export interface EtcdErrorSpec {
  /** The gRPC status code etcd answers with. */
  readonly code: StatusCode;
  /** etcd's exact status message. */
  readonly message: string;
}

/** etcd's KV, lease, cluster and server errors, by etcd's name without the `ErrGRPC` prefix. */
export const ETCD_ERRORS = {
  EmptyKey: { code: Status.INVALID_ARGUMENT, message: "etcdserver: key is not provided" },
  KeyNotFound: { code: Status.INVALID_ARGUMENT, message: "etcdserver: key not found" },
  ValueProvided: { code: Status.INVALID_ARGUMENT, message: "etcdserver: value is provided" },
  LeaseProvided: { code: Status.INVALID_ARGUMENT, message: "etcdserver: lease is provided" },
  TTLZero: { code: Status.INVALID_ARGUMENT, message: "etcdserver: ttl is 0" },
  TooManyOps: {
    code: Status.INVALID_ARGUMENT,
    message: "etcdserver: too many operations in txn request",
  },
  DuplicateKey: {
    code: Status.INVALID_ARGUMENT,
    message: "etcdserver: duplicate key given in txn request",
  },
  Compacted: {
    code: Status.OUT_OF_RANGE,
    message: "etcdserver: mvcc: required revision has been compacted",
  },
  FutureRev: {
    code: Status.OUT_OF_RANGE,
    message: "etcdserver: mvcc: required revision is a future revision",
  },
  NoSpace: {
    code: Status.RESOURCE_EXHAUSTED,
    message: "etcdserver: mvcc: database space exceeded",
  },
  LeaseNotFound: { code: Status.NOT_FOUND, message: "etcdserver: requested lease not found" },
  LeaseExist: { code: Status.FAILED_PRECONDITION, message: "etcdserver: lease already exists" },
  LeaseTTLTooLarge: { code: Status.OUT_OF_RANGE, message: "etcdserver: too large lease TTL" },
  MemberExist: { code: Status.FAILED_PRECONDITION, message: "etcdserver: member ID already exist" },
  PeerURLExist: {
    code: Status.FAILED_PRECONDITION,
    message: "etcdserver: Peer URLs already exists",
  },
  MemberNotEnoughStarted: {
    code: Status.FAILED_PRECONDITION,
    message: "etcdserver: re-configuration failed due to not enough started members",
  },
  MemberBadURLs: {
    code: Status.INVALID_ARGUMENT,
    message: "etcdserver: given member URLs are invalid",
  },
  MemberNotFound: { code: Status.NOT_FOUND, message: "etcdserver: member not found" },
  MemberNotLearner: {
    code: Status.FAILED_PRECONDITION,
    message: "etcdserver: can only promote a learner member",
  },
  LearnerNotReady: {
    code: Status.FAILED_PRECONDITION,
    message: "etcdserver: can only promote a learner member which is in sync with leader",
  },
  TooManyLearners: {
    code: Status.FAILED_PRECONDITION,
    message: "etcdserver: too many learner members in cluster",
  },
  RequestTooLarge: { code: Status.INVALID_ARGUMENT, message: "etcdserver: request is too large" },
  TooManyRequests: { code: Status.RESOURCE_EXHAUSTED, message: "etcdserver: too many requests" },
  NoLeader: { code: Status.UNAVAILABLE, message: "etcdserver: no leader" },
  NotLeader: { code: Status.FAILED_PRECONDITION, message: "etcdserver: not leader" },
  LeaderChanged: { code: Status.UNAVAILABLE, message: "etcdserver: leader changed" },
  NotCapable: { code: Status.UNAVAILABLE, message: "etcdserver: not capable" },
  Stopped: { code: Status.UNAVAILABLE, message: "etcdserver: server stopped" },
  Timeout: { code: Status.UNAVAILABLE, message: "etcdserver: request timed out" },
  TimeoutDueToLeaderFail: {
    code: Status.UNAVAILABLE,
    message: "etcdserver: request timed out, possibly due to previous leader failure",
  },
  TimeoutDueToConnectionLost: {
    code: Status.UNAVAILABLE,
    message: "etcdserver: request timed out, possibly due to connection lost",
  },
  Unhealthy: { code: Status.UNAVAILABLE, message: "etcdserver: unhealthy cluster" },
  Corrupt: { code: Status.DATA_LOSS, message: "etcdserver: corrupt cluster" },
  NotSupportedForLearner: {
    code: Status.UNAVAILABLE,
    message: "etcdserver: rpc not supported for learner",
  },
  BadLeaderTransferee: {
    code: Status.FAILED_PRECONDITION,
    message: "etcdserver: bad leader transferee",
  },
} as const satisfies Record<string, EtcdErrorSpec>;

/** The name of one of {@link ETCD_ERRORS}. */
export type EtcdErrorName = keyof typeof ETCD_ERRORS;

/**
 * An {@link RpcError} with etcd's code and message. With `explanation`, the message becomes
 * `<etcd's message>: <explanation>` (see the module note on what that costs etcd clients).
 *
 * @param name which etcd error
 * @param explanation what was wrong and what is allowed, or nothing for etcd's exact text
 * @param details machine-readable details, sent as `draft-<key>` trailing metadata
 * @example
 * ```ts
 * throw etcdError("Compacted");
 * throw etcdError("TooManyOps", "129 operations given; at most 128 are allowed");
 * throw etcdError("LeaderChanged", undefined, { leader_address: "10.0.0.3:2379" });
 * ```
 */
export function etcdError(
  name: EtcdErrorName,
  explanation?: string,
  details?: Record<string, string>,
): RpcError {
  const spec: EtcdErrorSpec = ETCD_ERRORS[name];
  const message = explanation ? `${spec.message}: ${explanation}` : spec.message;
  return new RpcError(spec.code, message, details);
}
