/**
 * Blueprint's Raft: the pure core (state machine, codec, in-memory storage, simulator
 * support), the durable log, the TCP transport and the worker driver.
 *
 * Most users need only {@link startRaftNode}:
 *
 * @example
 * ```ts
 * import { startRaftNode } from "./blueprint/raft/mod.ts";
 * const node = await startRaftNode({
 *   id: "a", cluster_id: "blueprint", data_dir: "./data/raft-a",
 *   listen: { hostname: "127.0.0.1", port: 7001 },
 *   peers: { b: { hostname: "127.0.0.1", port: 7002 }, c: { hostname: "127.0.0.1", port: 7003 } },
 * });
 * const position = await node.propose(new TextEncoder().encode("hello"));
 * await node.stop();
 * ```
 *
 * @module
 */
export * from "./core/mod.ts";
export * from "./log/mod.ts";
export * from "./transport/mod.ts";
export * from "./driver/mod.ts";
export * from "./snapshot/mod.ts";
