/**
 * Turns a loaded root into encoded `google.protobuf.FileDescriptorProto`s, one per `.proto`
 * file, each named after its file and listing the files it depends on.
 *
 * Server reflection serves these to tools such as grpcurl. protobufjs's own `toDescriptor`
 * groups by package and names files after the package without dependencies, which tools that
 * link descriptors by file name reject; this module repairs both.
 *
 * @module
 */
import { protobuf, protobufDescriptor, type protobufTypes } from "../../deps.ts";

/** One descriptor per file: its path and the encoded `FileDescriptorProto`. */
export interface EncodedFileDescriptor {
  /** The file's path as loaded, e.g. `etcd/rpc.proto`. */
  readonly file_name: string;
  /** The files it imports (by path). */
  readonly dependencies: readonly string[];
  /** The encoded `google.protobuf.FileDescriptorProto`. */
  readonly bytes: Uint8Array;
}

interface DescriptorLike {
  name: string;
  package?: string;
  dependency: string[];
  messageType: MessageDescriptorLike[];
  enumType: { name: string }[];
  service: { name: string; method: { inputType: string; outputType: string }[] }[];
}

interface MessageDescriptorLike {
  name: string;
  field: { typeName?: string }[];
  nestedType: MessageDescriptorLike[];
}

/**
 * Builds the file descriptors of every file in `root`.
 *
 * @example
 * ```ts
 * const files = buildFileDescriptors(root);
 * files.map((file) => file.file_name); // ["etcd/kv.proto", "etcd/rpc.proto"]
 * ```
 */
export function buildFileDescriptors(root: protobufTypes.Root): EncodedFileDescriptor[] {
  const file_of_symbol = new Map<string, string>();
  indexSymbols(root, file_of_symbol, 0);
  const set = (root as unknown as { toDescriptor(syntax: string): { file: DescriptorLike[] } })
    .toDescriptor("proto3");
  const result: EncodedFileDescriptor[] = [];
  for (const file of set.file) {
    const prefix = file.package ? `${file.package}.` : "";
    const first_symbol = file.messageType[0]?.name ?? file.enumType[0]?.name ??
      file.service[0]?.name;
    const file_name = file_of_symbol.get(`${prefix}${first_symbol}`) ?? file.name;
    const dependencies = new Set<string>();
    const add = (type_name: string | undefined) => {
      if (!type_name) return;
      const dependency = file_of_symbol.get(type_name.replace(/^\./, ""));
      if (dependency !== undefined && dependency !== file_name) dependencies.add(dependency);
    };
    visitMessages(file.messageType, (message) => message.field.forEach((f) => add(f.typeName)), 0);
    for (const service of file.service) {
      for (const method of service.method) {
        add(method.inputType);
        add(method.outputType);
      }
    }
    file.name = file_name;
    file.dependency = [...dependencies].sort();
    const bytes = protobufDescriptor.FileDescriptorProto.encode(file).finish();
    result.push({ file_name, dependencies: file.dependency, bytes });
  }
  return result;
}

const MAX_NAMESPACE_DEPTH = 32;

function indexSymbols(
  namespace: protobufTypes.NamespaceBase,
  file_of_symbol: Map<string, string>,
  depth: number,
): void {
  if (depth > MAX_NAMESPACE_DEPTH) throw new Error(`namespaces nested over ${MAX_NAMESPACE_DEPTH}`);
  for (const nested of namespace.nestedArray) {
    const is_symbol = nested instanceof protobuf.Type || nested instanceof protobuf.Enum ||
      nested instanceof protobuf.Service;
    if (is_symbol && nested.filename) file_of_symbol.set(nested.fullName.slice(1), nested.filename);
    if (nested instanceof protobuf.Namespace) indexSymbols(nested, file_of_symbol, depth + 1);
  }
}

function visitMessages(
  messages: readonly MessageDescriptorLike[],
  visit: (message: MessageDescriptorLike) => void,
  depth: number,
): void {
  if (depth > MAX_NAMESPACE_DEPTH) throw new Error(`messages nested over ${MAX_NAMESPACE_DEPTH}`);
  for (const message of messages) {
    visit(message);
    visitMessages(message.nestedType, visit, depth + 1);
  }
}
