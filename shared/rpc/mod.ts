/**
 * gRPC for every Draft service: a server builder on `@grpc/grpc-js` that serves services
 * from parsed `.proto` files with health and reflection built in, size limits, errors as gRPC
 * statuses, a bounded graceful shutdown, and a client channel with deadlines and keepalive.
 *
 * ```ts
 * import { loadEtcdSchema, methodOf } from "../proto/mod.ts";
 * import { invalidArgument, RpcChannel, RpcServer } from "../rpc/mod.ts";
 *
 * const schema = await loadEtcdSchema();
 * const server = new RpcServer();
 * server.addService(schema, "etcdserverpb.KV", {
 *   Put: (request: { key: Uint8Array }) => {
 *     if (request.key.length === 0) throw invalidArgument("key is empty; keys need 1+ bytes");
 *     return { header: { revision: 1n } };
 *   },
 * });
 * const { address } = await server.listen("127.0.0.1:0");
 * const channel = new RpcChannel(address);
 * await channel.unary(methodOf(schema.service("etcdserverpb.KV"), "Put"), { key: new Uint8Array([1]) });
 * channel.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */
export * from "./rpc_error.ts";
export * from "./limits.ts";
export * from "./health_status.ts";
export * from "./rpc_server.ts";
export * from "./rpc_client.ts";
export * from "./etcd_errors.ts";
