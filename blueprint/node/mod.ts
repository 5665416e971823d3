/**
 * The Blueprint service process: configuration, the node (storage + KV state machine + Raft
 * + apply loop) and its gRPC API (etcd's KV, Watch, Lease, Cluster and Maintenance, plus
 * health and reflection).
 *
 * @example
 * ```ts
 * import { BlueprintNode, resolveNodeConfig } from "./blueprint/node/mod.ts";
 * const config = resolveNodeConfig({
 *   flags: { id: "n1", data: "/tmp/n1", "client-addr": "127.0.0.1:2221", "raft-addr": "127.0.0.1:1111" },
 *   env: Deno.env.toObject(),
 * });
 * const node = await BlueprintNode.start(config);
 * console.log(`blueprint ${node.id} ready client=${node.client_address} raft=${node.raft_address}`);
 * await node.stop();
 * ```
 *
 * @module
 */
export {
  BlueprintNode,
  type BlueprintNodeOptions,
  DEDUP_WINDOW_SIZE,
  type NodeStatus,
} from "./blueprint_node.ts";
export {
  ConfigError,
  type ConfigSources,
  DEFAULT_NODE_CONFIG,
  type HostPort,
  NODE_SETTINGS,
  type NodeConfig,
  type NodeSetting,
  parseHostPort,
  parseInitialCluster,
  resolveNodeConfig,
} from "./config.ts";
export { clusterIdOf, memberIdOf } from "./member_ids.ts";
export { Applier, type ApplierHooks } from "./applier.ts";
export { type MemberRecord, type NodeCommand } from "./node_entry.ts";
export { INTERNAL_SERVICE } from "./services.ts";
