/**
 * Every third-party module the product imports at run time, with its full `npm:` specifier.
 *
 * A module imported from a URL does not see the importer's import map, so the product keeps
 * full specifiers here and imports this file relatively. Test and benchmark dependencies live
 * in `dev_deps.ts` so that importing `mod.ts` never loads them.
 *
 * - `@grpc/grpc-js`: the gRPC server and client of every client-facing API. Pinned to 1.14.3,
 *   the release line Deno 2.9.3 runs (older Deno cannot run 1.14; see DESIGN.md).
 * - `protobufjs`: parses our `.proto` files at run time and encodes/decodes messages; the same
 *   7.x line `@grpc/proto-loader` uses, so one copy is loaded.
 * - `protobufjs/ext/descriptor`: turns the parsed files into `FileDescriptorProto`s that server
 *   reflection hands to tools such as grpcurl.
 * - `@grpc/reflection`: the standard server reflection service (v1 and v1alpha).
 *
 * @module
 */
export * as grpc from "npm:@grpc/grpc-js@1.14.3";
// These three are imports, not re-exports, because protobufjs's CommonJS exports need a cast to
// their declared types; the full specifiers are what this file is for.
// deno-lint-ignore no-import-prefix
import protobufModule from "npm:protobufjs@7.6.6";
// deno-lint-ignore no-import-prefix
import type * as protobufTypes from "npm:protobufjs@7.6.6";
// deno-lint-ignore no-import-prefix
import protobufDescriptorModule from "npm:protobufjs@7.6.6/ext/descriptor/index.js";
/** protobufjs; its CommonJS exports are only visible through the default import. */
export const protobuf = protobufModule as unknown as typeof protobufTypes;
export type { protobufTypes };
/** protobufjs's `google.protobuf` descriptor messages (FileDescriptorSet and friends). */
export const protobufDescriptor = protobufDescriptorModule as unknown as {
  FileDescriptorSet: protobufTypes.Type;
  FileDescriptorProto: protobufTypes.Type;
};
export { ReflectionService } from "npm:@grpc/reflection@1.0.4";
