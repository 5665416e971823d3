/**
 * gRPC for every Draft service, on `@grpc/grpc-js`.
 *
 * - {@link RpcServer}: serves services declared in parsed `.proto` files
 *   (`addService(schema, "pkg.Service", handlers)`), with the standard health service
 *   (`server.health.set(name, "SERVING" | "NOT_SERVING")`) and server reflection v1 and
 *   v1alpha built in; request limits (1.5 MiB by default, INVALID_ARGUMENT naming the limit;
 *   gRPC's receive limit 512 KiB above, RESOURCE_EXHAUSTED); `listen("host:port")`;
 *   `shutdown(timeout_ms)` that waits for calls and cuts them at the bound.
 * - Handlers get decoded requests (see `shared/proto`: `bigint` for 64-bit fields) and return
 *   plain objects. Throw an {@link RpcError} ({@link rpcError}, {@link invalidArgument},
 *   {@link etcdError}, ...) to answer a status; anything else thrown becomes INTERNAL.
 * - {@link RpcChannel}: a client connection with a deadline on every call, keepalive, and
 *   {@link RpcError} rejections that carry the server's details.
 * - {@link duplexHandler}: a bidirectional handler with a small callback interface
 *   ({@link DuplexCall} to write, {@link DuplexListener} to hear the client), served straight
 *   from the HTTP/2 stream beside grpc-js, like plain unary calls.
 * - {@link DirectStreamChannel}: bidirectional streams written straight on `node:http2`, for a
 *   long stream whose per-message cost matters (a process's registry Synchronize).
 * - {@link checkSize} and {@link checkCount}: limit checks with clear INVALID_ARGUMENT errors.
 *
 * Permissions: `--allow-net --allow-env --allow-read --allow-sys=uid,gid` (plus
 * `--allow-import` when imported from a URL).
 *
 * ```ts
 * import { loadEtcdSchema, methodOf, type PutRequest } from "../proto/mod.ts";
 * import { invalidArgument, RpcChannel, RpcServer } from "../rpc/mod.ts";
 *
 * const schema = await loadEtcdSchema();
 * const server = new RpcServer();
 * server.addService(schema, "etcdserverpb.KV", {
 *   Put: (request: PutRequest) => {
 *     if (request.key.length === 0) throw invalidArgument("key is empty; keys need 1+ bytes");
 *     return { header: { revision: 1n } };
 *   },
 * });
 * const { address } = await server.listen("127.0.0.1:0");
 * const channel = new RpcChannel(address);
 * const put = methodOf(schema.service("etcdserverpb.KV"), "Put");
 * await channel.unary(put, { key: new Uint8Array([1]) });
 * channel.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */
export * from "./rpc_error.ts";
export * from "./etcd_errors.ts";
export * from "./limits.ts";
export * from "./health_status.ts";
export * from "./rpc_server.ts";
export * from "./rpc_client.ts";
export * from "./direct_stream.ts";
export {
  type DuplexCall,
  type DuplexHandler,
  duplexHandler,
  type DuplexListener,
  type MarkedDuplexHandler,
} from "./duplex_stream.ts";
