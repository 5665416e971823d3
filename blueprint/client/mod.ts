/**
 * A client of Blueprint, which speaks etcd's v3 gRPC API: KV (put, get, delete, txn,
 * compare-and-swap), Watch (resumed across failures with no gap or duplicate), Lease (grant,
 * revoke, time-to-live, keep-alive), Cluster (members: list, add, remove, promote) and
 * Maintenance (status, leader transfer). Several endpoints with failover; follows the leader
 * named in response headers; a deadline on every call; retries only where they are safe (a
 * write is repeated only when the error proves it was not applied). Works against etcd too.
 *
 * Also {@link LocalCluster}: starts a local cluster of Blueprint (or etcd) processes, as
 * `draft up`, the cluster tests and the benchmark use.
 *
 * @example
 * ```ts
 * import { BlueprintClient } from "./blueprint/client/mod.ts";
 * const client = await BlueprintClient.connect({ endpoints: "127.0.0.1:2221,127.0.0.1:2222" });
 * await client.put("a", "1");
 * (await client.get("a")).kvs[0].value; // "1" as bytes
 * await client.compareAndSwap("a", "1", "2"); // true
 * client.close();
 * ```
 *
 * @module
 */
export {
  BlueprintClient,
  type CallOptions,
  type ClientOptions,
  type DeleteOptions,
  type EndpointStatus,
  type GetOptions,
  type LeaderInfo,
  MAX_ATTEMPTS,
  type PutOptions,
} from "./blueprint_client.ts";
export { ClientError, type GaveUp } from "./client_error.ts";
export { EndpointList, MAX_ENDPOINTS, normalizeEndpoint, parseEndpoints } from "./endpoint_list.ts";
export { type Bytes, prefixEnd, rangeEndFor, toBytes, toText } from "./key_bytes.ts";
export { LeaseKeepAlive } from "./lease_keep_alive.ts";
export { backoffMs, type CallKind, decideRetry, type RetryDecision } from "./retry_policy.ts";
export { type WatchBatch, type WatchOptions, WatchStream } from "./watch_stream.ts";
export * from "./types.ts";
export {
  type ClusterFlavor,
  DEFAULT_LOCAL_ENDPOINTS,
  freePort,
  LocalCluster,
  type LocalClusterOptions,
  type LocalMember,
  MAX_LOCAL_MEMBERS,
  UP_CLIENT_PORT,
  UP_RAFT_PORT,
} from "./local_cluster.ts";
