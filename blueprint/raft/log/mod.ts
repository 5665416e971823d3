/**
 * The durable Raft log: segments of checksummed records with group commit, atomic snapshot
 * files, crash recovery that drops a torn tail and refuses corruption.
 *
 * @module
 */
export {
  type LogUpdate,
  type RaftLogStats,
  RaftLogStore,
  type RaftLogStoreOptions,
} from "./raft_log_store.ts";
export { RaftLogCorruptionError, RaftLogUsageError } from "./errors.ts";
