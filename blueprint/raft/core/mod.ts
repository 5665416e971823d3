/**
 * Blueprint's Raft core: a pure, deterministic Raft state machine (etcd-io/raft's RawNode
 * shape), its message codec and an in-memory log for tests and simulation.
 *
 * @example
 * ```ts
 * import { MemoryRaftStorage, RaftNode, SeededRng } from "./mod.ts";
 * const storage = new MemoryRaftStorage({ voters: ["a"], learners: [] });
 * const node = new RaftNode({
 *   id: "a", storage, election_tick: 10, heartbeat_tick: 1, pre_vote: true,
 *   check_quorum: true, max_inflight_msgs: 64, max_size_per_msg_bytes: 1 << 20,
 *   rng: new SeededRng(1),
 * });
 * for (let i = 0; i < 20; i++) node.tick();
 * const rd = node.ready(); // persist, send, apply …
 * node.advance(rd);
 * ```
 *
 * @module
 */
export * from "./types.ts";
export { RaftNode, type RaftNodeOptions, type RaftTestingFaults } from "./raft.ts";
export { MemoryRaftStorage } from "./memory_storage.ts";
export { SeededRng } from "./rng.ts";
export {
  CodecError,
  decodeConfChange,
  decodeEntry,
  decodeMessage,
  encodeConfChange,
  encodeEntry,
  encodeMessage,
  MAX_ENTRIES_PER_MESSAGE,
  MAX_MEMBERS,
  MAX_MESSAGE_BYTES,
  MAX_NODE_ID_BYTES,
} from "./codec.ts";
export { entrySizeBytes } from "./raft_log.ts";
