/**
 * Protocol definitions: `.proto` files parsed at run time into codecs, service shapes and
 * file descriptors, plus etcd's v3 API as Blueprint speaks it.
 *
 * ```ts
 * import { etcdCodecs, loadEtcdSchema } from "../proto/mod.ts";
 * const schema = await loadEtcdSchema();
 * const codecs = etcdCodecs(schema);
 * const bytes = codecs.PutRequest.encode({ key: new TextEncoder().encode("k"), lease: 7n });
 * codecs.PutRequest.decode(bytes).lease; // 7n
 * ```
 *
 * @module
 */
export * from "./proto_files.ts";
export * from "./message_codec.ts";
export * from "./file_descriptors.ts";
export * from "./proto_schema.ts";
export * from "./etcd.ts";
export * from "./health.ts";
