/**
 * The Raft driver: runs the core in a dedicated worker (durable log, TCP transport, ticks)
 * and gives the main isolate a {@link RaftNodeHandle}.
 *
 * @module
 */
export {
  type CommitPosition,
  type CommittedItem,
  MAX_PROPOSAL_BYTES,
  ProposalFailedError,
  type RaftNodeHandle,
  type RaftNodeHandleOptions,
  type RaftNodeStatus,
  startRaftNode,
  TooManyPendingError,
} from "./raft_node_handle.ts";
export { type RaftNodeConfig, resolveConfig } from "./worker_config.ts";
