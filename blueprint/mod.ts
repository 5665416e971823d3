/**
 * Blueprint: the Raft-replicated key/value store with etcd's v3 API. The public face of the
 * service: run a member with {@link BlueprintNode}, or use the parts (the LSM
 * {@link Storage}, the KV state machine, Raft) directly.
 *
 * @example
 * ```ts
 * import { BlueprintNode, resolveNodeConfig } from "./blueprint/mod.ts";
 * const node = await BlueprintNode.start(resolveNodeConfig({ flags: { id: "n1", data: "/tmp/n1" } }));
 * await node.stop();
 * ```
 *
 * @module
 */
export {
  BlueprintNode,
  type BlueprintNodeOptions,
  clusterIdOf,
  ConfigError,
  type ConfigSources,
  DEFAULT_NODE_CONFIG,
  memberIdOf,
  NODE_SETTINGS,
  type NodeConfig,
  type NodeStatus,
  parseHostPort,
  parseInitialCluster,
  resolveNodeConfig,
} from "./node/mod.ts";
export {
  CorruptionError,
  type KeyValue as StorageKeyValue,
  Storage,
  StorageError,
  type StorageOptions,
  WriteBatch,
} from "./storage/mod.ts";
export {
  KvError,
  type KvRequest,
  type KvResponse,
  KvStateMachine,
  type KvStateMachineOptions,
  WatchHub,
} from "./kv/mod.ts";
export {
  ProposalFailedError,
  type RaftNodeConfig,
  type RaftNodeHandle,
  startRaftNode,
} from "./raft/mod.ts";
