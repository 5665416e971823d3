/**
 * Configuration of a Raft node run by the driver, with defaults and validation. Shared by the
 * main side (which validates early, with clear errors) and the worker (which receives it as
 * JSON).
 *
 * @module
 */
import type { NodeId } from "../core/mod.ts";
import type { PeerAddress } from "../transport/mod.ts";

/** Everything needed to run one Raft member. */
export interface RaftNodeConfig {
  /** This member's id. */
  id: NodeId;
  /** Cluster name; peers from another cluster are refused. */
  cluster_id: string;
  /** Directory of the durable log (created if missing). */
  data_dir: string;
  /** Where the peer transport listens; port 0 picks a free port. */
  listen: PeerAddress;
  /** Address book of the other members (more can be added with setPeer). */
  peers: Record<NodeId, PeerAddress>;
  /**
   * Voters of a brand-new cluster (default: this id and every peer). A node joining a running
   * cluster lists the current voters (not itself) and waits to be added with a membership
   * change. Ignored on restart.
   */
  initial_members?: NodeId[];
  /** Milliseconds per Raft tick (default 100). */
  tick_ms?: number;
  /** Ticks without a leader before an election (default 10). */
  election_tick?: number;
  /** Ticks between heartbeats (default 1). */
  heartbeat_tick?: number;
  /** PreVote (default true). */
  pre_vote?: boolean;
  /** CheckQuorum (default true). */
  check_quorum?: boolean;
  /** App messages in flight per follower (default 256). */
  max_inflight_msgs?: number;
  /** Entry bytes per App message (default 1 MiB). */
  max_size_per_msg_bytes?: number;
  /** Entries proposed but not committed before proposals are refused (default 16,384). */
  max_uncommitted_entries?: number;
  /** Index the application has already applied (default 0: everything is handed out again). */
  applied_index?: number;
  /** Log segment size (default 64 MiB). */
  segment_size_bytes?: number;
  /** Seed of the election-timeout randomness (default: random). */
  seed?: number;
  /**
   * Where the application's checkpoints live (one directory per checkpoint id). With it, a
   * snapshot whose data is a checkpoint descriptor is served to peers from here in chunks.
   * Default "": snapshots are opaque bytes sent inside the message.
   */
  checkpoints_dir?: string;
  /**
   * Where checkpoints received from peers are staged before the snapshot message reaches the
   * core (needed with `checkpoints_dir`).
   */
  received_dir?: string;
  /**
   * A member that starts with no Raft state holds its vote until a quorum of the voters is
   * found to be new as well (a new cluster), or until it has caught up with a leader (it was
   * wiped and may have voted before). Default false: vote at once.
   */
  hold_vote_when_fresh?: boolean;
}

/** {@link RaftNodeConfig} with every default filled in. */
export type ResolvedRaftNodeConfig = Required<RaftNodeConfig>;

/** Fills in defaults and checks every field; throws RangeError naming the bad one. */
export function resolveConfig(config: RaftNodeConfig): ResolvedRaftNodeConfig {
  const resolved: ResolvedRaftNodeConfig = {
    initial_members: [config.id, ...Object.keys(config.peers).filter((p) => p !== config.id)],
    tick_ms: 100,
    election_tick: 10,
    heartbeat_tick: 1,
    pre_vote: true,
    check_quorum: true,
    max_inflight_msgs: 256,
    max_size_per_msg_bytes: 1024 * 1024,
    max_uncommitted_entries: 16_384,
    applied_index: 0,
    segment_size_bytes: 64 * 1024 * 1024,
    seed: Math.floor(Math.random() * 2 ** 31),
    checkpoints_dir: "",
    received_dir: "",
    hold_vote_when_fresh: false,
    ...stripUndefined(config),
  };
  if ((resolved.checkpoints_dir === "") !== (resolved.received_dir === "")) {
    throw new RangeError(
      "raft node config: checkpoints_dir and received_dir must be given together (or neither)",
    );
  }
  if (typeof resolved.id !== "string" || resolved.id.length === 0) {
    throw new RangeError("raft node config: id must be a non-empty string");
  }
  if (typeof resolved.cluster_id !== "string" || resolved.cluster_id.length === 0) {
    throw new RangeError("raft node config: cluster_id must be a non-empty string");
  }
  if (typeof resolved.data_dir !== "string" || resolved.data_dir.length === 0) {
    throw new RangeError("raft node config: data_dir must be a non-empty path");
  }
  checkPort("listen.port", resolved.listen?.port);
  for (const [id, address] of Object.entries(resolved.peers)) {
    checkPort(`peers.${id}.port`, address.port);
  }
  for (const name of ["tick_ms", "election_tick", "heartbeat_tick", "max_inflight_msgs"] as const) {
    checkPositiveInteger(name, resolved[name]);
  }
  checkPositiveInteger("max_size_per_msg_bytes", resolved.max_size_per_msg_bytes);
  checkPositiveInteger("max_uncommitted_entries", resolved.max_uncommitted_entries);
  if (resolved.election_tick <= resolved.heartbeat_tick) {
    throw new RangeError(
      `raft node config: election_tick (${resolved.election_tick}) must exceed ` +
        `heartbeat_tick (${resolved.heartbeat_tick})`,
    );
  }
  if (resolved.initial_members.length === 0) {
    throw new RangeError("raft node config: initial_members must name at least one voter");
  }
  return resolved;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function checkPort(name: string, port: unknown): void {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`raft node config: ${name} must be an integer in [0, 65535], got ${port}`);
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`raft node config: ${name} must be an integer >= 1, got ${value}`);
  }
}
