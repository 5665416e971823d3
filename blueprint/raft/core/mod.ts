/**
 * Blueprint's Raft core: a pure, deterministic Raft state machine (etcd-io/raft's RawNode
 * shape), its message codec and an in-memory log for tests and simulation.
 *
 * Driver contract, beyond the order written on {@link Ready}:
 * - A founding member's storage starts with a snapshot at index 1, term 1 holding the
 *   bootstrap membership, and hard state {term 1, commit 1} (see {@link MemoryRaftStorage});
 *   a member that joins later starts empty and receives a snapshot from the leader.
 * - `committed_entries` may include entries of the same Ready's `entries`: persist first.
 * - Membership changes take effect inside `advance()` for the Ready that handed them out;
 *   nothing else to call. On restart, committed changes in the stable log are replayed.
 * - A snapshot taken by the application must have `confAppliedIndex() ≤ index ≤ applied`
 *   and carry `confState()`.
 * - The leader counts its own entries toward commit only after `advance()` (so it may send
 *   its appends before its own write is durable).
 * - Call `reportUnreachable(id)` / `reportSnapshot(id, ok)` when sends or snapshot transfers
 *   fail; without them a lost snapshot is retried after two election timeouts.
 * - Prop, ReadIndex and TransferLeader messages forwarded by followers carry term 0.
 * - Encoded messages are limited to {@link MAX_MESSAGE_BYTES}, snapshots included.
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
